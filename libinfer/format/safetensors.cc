#include "libinfer/format/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libinfer/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace infer {
namespace {

using Json = nlohmann::json;

std::optional<DType> DTypeFromSafetensors(const std::string& s) {
  if (s == "F32") return DType::kF32;
  if (s == "F16") return DType::kF16;
  if (s == "BF16") return DType::kBF16;
  return std::nullopt;
}

// Parses JSON text without letting an exception escape. Top-level duplicate keys are reported
// through `duplicate_key` (nlohmann would silently keep the last one). Returns nullopt and sets
// `error` on failure.
std::optional<Json> ParseJson(std::string_view text, std::string* duplicate_key,
                              std::string* error) {
  std::set<std::string> seen;
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth == 1 && event == Json::parse_event_t::key && parsed.is_string()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!seen.insert(key).second && duplicate_key->empty()) *duplicate_key = key;
    }
    return true;
  };
  try {
    Json j = Json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      *error = "invalid JSON";
      return std::nullopt;
    }
    return j;
  } catch (const std::exception& e) {
    *error = absl::StrCat("invalid JSON: ", e.what());
    return std::nullopt;
  }
}

// An unsigned integer JSON value, or nullopt.
std::optional<uint64_t> AsUint(const Json& j) {
  if (!j.is_number_unsigned()) {
    if (j.is_number_integer() && j.get<int64_t>() >= 0) return j.get<int64_t>();
    return std::nullopt;
  }
  return j.get<uint64_t>();
}

}  // namespace

namespace {

// One tensor's header entry into `out` (its data at `data` + begin), and its byte range in
// the data section; InvalidArgument naming the tensor and the field.
absl::Status ReadTensorEntry(const std::string& key, const Json& entry, const uint8_t* data,
                             uint64_t data_size, TensorView* out, uint64_t* range_begin,
                             uint64_t* range_end) {
  auto Bad = [](const std::string& what) { return absl::InvalidArgumentError(what); };
  const std::string field = absl::StrCat("tensor '", key, "'");
  if (!entry.is_object()) return Bad(absl::StrCat(field, ": expected a JSON object"));
  const auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end() || !dtype_it->is_string()) {
    return Bad(absl::StrCat(field, ": missing or non-string 'dtype'"));
  }
  const std::string& dtype_name = dtype_it->get_ref<const std::string&>();
  const std::optional<DType> dtype = DTypeFromSafetensors(dtype_name);
  if (!dtype.has_value()) {
    return Bad(
        absl::StrCat(field, ": unsupported dtype '", dtype_name, "' (supported: F32, F16, BF16)"));
  }
  const auto shape_it = entry.find("shape");
  if (shape_it == entry.end() || !shape_it->is_array()) {
    return Bad(absl::StrCat(field, ": missing or non-array 'shape'"));
  }
  TensorView& view = *out;
  view.name = key;
  view.dtype = *dtype;
  int64_t numel = 1;
  for (size_t d = 0; d < shape_it->size(); ++d) {
    const std::optional<uint64_t> dim = AsUint((*shape_it)[d]);
    if (!dim.has_value() || *dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Bad(absl::StrCat(field, ": shape[", d, "] is not a non-negative integer"));
    }
    const int64_t di = static_cast<int64_t>(*dim);
    if (di != 0 && numel > std::numeric_limits<int64_t>::max() / di) {
      return Bad(absl::StrCat(field, ": element count overflows int64"));
    }
    numel *= di;
    view.shape.push_back(di);
  }
  const std::optional<int64_t> nbytes = DTypeBytes(*dtype, numel);
  if (!nbytes.has_value()) return Bad(absl::StrCat(field, ": byte size overflows int64"));
  const auto offsets_it = entry.find("data_offsets");
  if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2) {
    return Bad(absl::StrCat(field, ": 'data_offsets' must be an array [begin, end]"));
  }
  const std::optional<uint64_t> begin = AsUint((*offsets_it)[0]);
  const std::optional<uint64_t> end = AsUint((*offsets_it)[1]);
  if (!begin.has_value() || !end.has_value() || *begin > *end) {
    return Bad(absl::StrCat(field, ": 'data_offsets' must be integers with begin <= end"));
  }
  if (*end > data_size) {
    return Bad(absl::StrCat(field, ": data_offsets [", *begin, ", ", *end,
                            ") extend past the end of the data section (", data_size, " bytes)"));
  }
  if (*end - *begin != static_cast<uint64_t>(*nbytes)) {
    return Bad(absl::StrCat(field, ": data_offsets [", *begin, ", ", *end, ") hold ", *end - *begin,
                            " bytes but ", numel, " ", dtype_name, " elements need ", *nbytes));
  }
  view.data = data + *begin;
  view.nbytes = static_cast<size_t>(*nbytes);
  *range_begin = *begin;
  *range_end = *end;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Parse(
    std::span<const uint8_t> bytes, std::string display_name) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->display_name_ = std::move(display_name);
  const std::string& name = file->display_name_;
  auto error = [&name](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", what));
  };

  if (bytes.size() < 8) {
    return error(
        absl::StrCat("file of ", bytes.size(), " bytes is too short for the 8-byte header length"));
  }
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  if (header_len > kSafetensorsMaxHeaderBytes) {
    return error(absl::StrCat("header length ", header_len, " exceeds the limit of ",
                              kSafetensorsMaxHeaderBytes, " bytes"));
  }
  if (header_len > bytes.size() - 8) {
    return error(absl::StrCat("header length ", header_len, " extends past the end of the file (",
                              bytes.size(), " bytes)"));
  }
  const std::string_view header_text(reinterpret_cast<const char*>(bytes.data() + 8), header_len);
  std::string duplicate, parse_error;
  std::optional<Json> header = ParseJson(header_text, &duplicate, &parse_error);
  if (!header.has_value()) return error(absl::StrCat("header: ", parse_error));
  if (!header->is_object()) return error("header: expected a JSON object");
  if (!duplicate.empty()) return error(absl::StrCat("header: duplicate key '", duplicate, "'"));

  const uint8_t* data = bytes.data() + 8 + header_len;
  const uint64_t data_size = bytes.size() - 8 - header_len;
  std::vector<std::tuple<uint64_t, uint64_t, std::string>> ranges;
  for (const auto& [key, entry] : header->items()) {
    if (key == "__metadata__") {
      if (!entry.is_object()) return error("header: '__metadata__' is not an object");
      for (const auto& [mkey, mval] : entry.items()) {
        if (!mval.is_string()) {
          return error(absl::StrCat("header: '__metadata__' entry '", mkey, "' is not a string"));
        }
        file->metadata_.emplace(mkey, mval.get<std::string>());
      }
      continue;
    }
    TensorView view;
    uint64_t begin = 0, end = 0;
    if (absl::Status st = ReadTensorEntry(key, entry, data, data_size, &view, &begin, &end);
        !st.ok()) {
      return error(std::string(st.message()));
    }
    ranges.emplace_back(begin, end, key);
    file->tensors_.push_back(std::move(view));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (std::get<0>(ranges[i]) < std::get<1>(ranges[i - 1])) {
      return error(absl::StrCat("tensor '", std::get<2>(ranges[i]), "': data overlaps tensor '",
                                std::get<2>(ranges[i - 1]), "'"));
    }
  }
  // items() of nlohmann's default object walks keys in sorted order, so tensors_ is sorted.
  return file;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  INFER_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapping, MappedFile::Open(path));
  INFER_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, Parse(mapping->bytes(), path));
  file->mapping_ = std::move(mapping);
  return file;
}

const TensorView* SafetensorsFile::FindTensor(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorView& t, std::string_view n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

// ---- sharded folders ----------------------------------------------------------------------

namespace {

// True when `name` is a relative path that stays inside its folder.
bool IsSafeShardName(const std::string& name) {
  if (name.empty() || name.find('\0') != std::string::npos) return false;
  const std::filesystem::path p(name);
  if (p.is_absolute() || p.has_root_path()) return false;
  for (const auto& part : p) {
    if (part == "..") return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> SafetensorsCheckpoint::OpenFolder(
    const std::string& folder) {
  namespace fs = std::filesystem;
  std::unique_ptr<SafetensorsCheckpoint> ckpt(new SafetensorsCheckpoint());
  const fs::path dir(folder);
  const fs::path index_path = dir / "model.safetensors.index.json";
  const fs::path single_path = dir / "model.safetensors";
  std::error_code ec;
  if (fs::exists(index_path, ec)) {
    const std::string index_name = index_path.string();
    INFER_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> index_file, MappedFile::Open(index_name));
    const std::string_view text(reinterpret_cast<const char*>(index_file->data()),
                                index_file->size());
    std::string duplicate, parse_error;
    std::optional<Json> index = ParseJson(text, &duplicate, &parse_error);
    if (!index.has_value() || !index->is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(
          index_name, ": ", parse_error.empty() ? "expected a JSON object" : parse_error));
    }
    const auto map_it = index->find("weight_map");
    if (map_it == index->end() || !map_it->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_name, ": missing or non-object 'weight_map'"));
    }
    std::map<std::string, size_t> shard_by_name;
    for (const auto& [tensor, shard_json] : map_it->items()) {
      if (!shard_json.is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(index_name, ": weight_map entry '", tensor, "' is not a string"));
      }
      const std::string& shard = shard_json.get_ref<const std::string&>();
      if (!IsSafeShardName(shard)) {
        return absl::InvalidArgumentError(
            absl::StrCat(index_name, ": weight_map entry '", tensor, "' names shard '", shard,
                         "', which is not a relative path inside the folder"));
      }
      auto [it, inserted] = shard_by_name.emplace(shard, ckpt->shards_.size());
      if (inserted) {
        INFER_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                               SafetensorsFile::Open((dir / shard).string()));
        ckpt->shards_.push_back(std::move(file));
      }
      const TensorView* view = ckpt->shards_[it->second]->FindTensor(tensor);
      if (view == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(index_name, ": tensor '", tensor, "' is not in its shard '", shard, "'"));
      }
      ckpt->tensors_.emplace(tensor, view);
    }
    return ckpt;
  }
  if (fs::exists(single_path, ec)) {
    INFER_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                           SafetensorsFile::Open(single_path.string()));
    for (const TensorView& t : file->tensors()) ckpt->tensors_.emplace(t.name, &t);
    ckpt->shards_.push_back(std::move(file));
    return ckpt;
  }
  return absl::NotFoundError(
      absl::StrCat(folder, ": neither model.safetensors nor model.safetensors.index.json exists"));
}

const TensorView* SafetensorsCheckpoint::FindTensor(std::string_view name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : it->second;
}

}  // namespace infer
