#include "libinfer/model_set/model_set_config.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libinfer/config/document.h"

namespace infer::model_set {
namespace {

using Json = nlohmann::json;
using config::QuoteForMessage;

constexpr size_t kMaxModelSetBytes = 1 << 20;
constexpr size_t kMaxModels = 256;

// Reads one entry's fields, collecting every problem under the entry's origin.
class EntryReader {
 public:
  EntryReader(const Json& entry, std::string origin, std::vector<std::string>* errors)
      : entry_(entry), origin_(std::move(origin)), errors_(errors) {}

  void Error(const std::string& key, const std::string& what) {
    errors_->push_back(absl::StrCat(origin_, ": ", key, ": ", what));
  }

  // The value at `key` as text (a YAML scalar, a JSON string, number or boolean); nullopt when
  // absent or null; an error for another type.
  std::optional<std::string> Text(const std::string& key) {
    seen_.insert(key);
    const auto it = entry_.find(key);
    if (it == entry_.end() || it->is_null()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_boolean()) return it->get<bool>() ? "true" : "false";
    if (it->is_number_integer() || it->is_number_unsigned() || it->is_number_float()) {
      return it->dump();
    }
    Error(key, "must be a single value, not a list or a mapping");
    return std::nullopt;
  }

  void String(const std::string& key, std::string* out) {
    if (auto v = Text(key)) *out = *v;
  }

  // An integer in [lo, hi].
  template <typename T>
  bool Int(const std::string& key, int64_t lo, int64_t hi, T* out) {
    auto v = Text(key);
    if (!v) return false;
    int64_t n = 0;
    if (!absl::SimpleAtoi(*v, &n)) {
      Error(key, absl::StrCat("must be an integer, got ", QuoteForMessage(*v)));
      return false;
    }
    if (n < lo || n > hi) {
      Error(key, absl::StrCat("must be in [", lo, ", ", hi, "], got ", n));
      return false;
    }
    *out = static_cast<T>(n);
    return true;
  }

  template <typename T>
  void OptInt(const std::string& key, int64_t lo, int64_t hi, std::optional<T>* out) {
    T v{};
    if (Int(key, lo, hi, &v)) *out = v;
  }

  // A number in [lo, hi].
  void OptFloat(const std::string& key, double lo, double hi, std::optional<float>* out) {
    auto v = Text(key);
    if (!v) return;
    double d = 0;
    if (!absl::SimpleAtod(*v, &d) || !std::isfinite(d)) {
      Error(key, absl::StrCat("must be a number, got ", QuoteForMessage(*v)));
      return;
    }
    if (d < lo || d > hi) {
      Error(key, absl::StrCat("must be in [", lo, ", ", hi, "], got ", *v));
      return;
    }
    *out = static_cast<float>(d);
  }

  void Bool(const std::string& key, bool* out) {
    auto v = Text(key);
    if (!v) return;
    const std::string s = absl::AsciiStrToLower(*v);
    if (s == "true" || s == "yes" || s == "on") {
      *out = true;
    } else if (s == "false" || s == "no" || s == "off") {
      *out = false;
    } else {
      Error(key, absl::StrCat("must be true or false, got ", QuoteForMessage(*v)));
    }
  }

  // A size ("512MiB", bytes); must be positive.
  void Size(const std::string& key, uint64_t* out) {
    auto v = Text(key);
    if (!v) return;
    if (auto bytes = ParseByteSize(*v)) {
      *out = *bytes;
    } else {
      Error(key, absl::StrCat("must be a positive size such as 512MiB, 3.5GiB or 1048576, got ",
                              QuoteForMessage(*v)));
    }
  }

  // A nested mapping read by `read`; an error when present and not a mapping.
  void Nested(const std::string& key, const std::function<void(EntryReader&)>& read) {
    seen_.insert(key);
    const auto it = entry_.find(key);
    if (it == entry_.end() || it->is_null()) return;
    if (!it->is_object()) {
      Error(key, "must be a mapping");
      return;
    }
    EntryReader nested(*it, absl::StrCat(origin_, ": ", key), errors_);
    read(nested);
    nested.RejectUnknown();
  }

  // Every key not read is an error (a misspelt `replica:` must not be ignored).
  void RejectUnknown() {
    for (const auto& [key, value] : entry_.items()) {
      if (seen_.count(key) == 0) {
        std::vector<std::string> known(seen_.begin(), seen_.end());
        errors_->push_back(absl::StrCat(origin_, ": unknown key ", QuoteForMessage(key),
                                        " (known: ", absl::StrJoin(known, ", "), ")"));
      }
    }
  }

 private:
  const Json& entry_;
  const std::string origin_;
  std::vector<std::string>* errors_;
  std::set<std::string> seen_;
};

void ReadSampling(EntryReader& r, SamplingDefaults* s) {
  r.OptFloat("temperature", 0, 100, &s->temperature);
  r.OptFloat("top_p", 1e-6, 1, &s->top_p);
  r.OptInt("top_k", -1, 1 << 30, &s->top_k);
  r.OptFloat("min_p", 0, 1, &s->min_p);
  r.OptFloat("repetition_penalty", 1e-6, 100, &s->repetition_penalty);
  r.OptFloat("presence_penalty", -2, 2, &s->presence_penalty);
  r.OptFloat("frequency_penalty", -2, 2, &s->frequency_penalty);
  r.OptInt("max_tokens", 0, 1 << 30, &s->max_tokens);
}

void ReadScheduler(EntryReader& r, SchedulerOptions* o) {
  r.Int("max_num_seqs", 1, 1 << 16, &o->max_num_seqs);
  r.Int("max_num_batched_tokens", 1, 1 << 20, &o->max_num_batched_tokens);
  r.Int("block_size", 1, 1024, &o->block_size);
  r.Int("max_waiting", 1, 1 << 20, &o->max_waiting);
  std::optional<float> queue_timeout;
  r.OptFloat("queue_timeout", 0, 86400, &queue_timeout);
  if (queue_timeout) {
    o->queue_timeout = std::chrono::milliseconds(static_cast<int64_t>(*queue_timeout * 1000));
  }
  r.Size("kv_cache_memory", &o->kv_cache_bytes);
  r.Bool("enable_prefix_caching", &o->enable_prefix_caching);
  r.Bool("enable_chunked_prefill", &o->enable_chunked_prefill);
}

ModelSpec ReadEntry(const Json& entry, size_t index, const std::filesystem::path& folder,
                    bool check_files, std::vector<std::string>* errors) {
  ModelSpec m;
  std::string name;
  if (const auto it = entry.find("name"); it != entry.end() && it->is_string()) {
    name = it->get<std::string>();
  }
  m.origin = name.empty() ? absl::StrCat("models[", index, "]")
                          : absl::StrCat("models[", index, "] (", QuoteForMessage(name), ")");
  EntryReader r(entry, m.origin, errors);
  r.String("name", &m.name);
  if (m.name.empty()) {
    r.Error("name", "is required (the served model name)");
  } else if (m.name.size() > 256 || m.name.find_first_of(" \t\r\n/?#\"\\") != std::string::npos) {
    r.Error("name", "must be at most 256 bytes without spaces, '/', '?', '#', quotes or '\\'");
  }
  r.String("path", &m.path);
  if (m.path.empty()) {
    r.Error("path", "is required (a GGUF file or a Hugging Face folder)");
  } else {
    std::filesystem::path p(m.path);
    if (p.is_relative() && !folder.empty()) p = folder / p;
    m.path = p.lexically_normal().string();
    std::error_code ec;
    if (check_files && !std::filesystem::exists(p, ec)) {
      r.Error("path", absl::StrCat("no such file or folder: ", m.path));
    }
  }
  if (auto v = r.Text("replicas")) {
    if (absl::AsciiStrToLower(*v) == "max") {
      m.max_replicas = true;
    } else if (!absl::SimpleAtoi(*v, &m.replicas) || m.replicas < 0 || m.replicas > 1024) {
      r.Error("replicas",
              absl::StrCat("must be an integer in [0, 1024] or `max`, got ", QuoteForMessage(*v)));
    }
  }
  r.Size("memory", &m.memory_bytes);
  int64_t context = 0;
  if (r.Int("context_length", 0, int64_t{1} << 30, &context)) m.context_length = context;
  if (r.Int("max_model_len", 0, int64_t{1} << 30, &context)) {
    if (m.context_length != 0 && m.context_length != context) {
      r.Error("max_model_len", "disagrees with context_length (give one of them)");
    }
    m.context_length = context;
  }
  r.Int("tensor_parallel", 1, 64, &m.tensor_parallel);
  r.Int("pipeline_parallel", 1, 64, &m.pipeline_parallel);
  r.String("device", &m.device);
  if (m.device != "host" && m.device != "cuda") {
    r.Error("device", absl::StrCat("must be host or cuda, got ", QuoteForMessage(m.device)));
  }
  r.Int("threads", 0, 1024, &m.threads);
  r.Nested("sampling", [&](EntryReader& s) { ReadSampling(s, &m.sampling); });
  r.Nested("scheduler", [&](EntryReader& s) { ReadScheduler(s, &m.scheduler); });
  r.RejectUnknown();
  return m;
}

}  // namespace

}  // namespace infer::model_set

namespace infer {

using model_set::Json;
using model_set::kMaxModels;
using model_set::kMaxModelSetBytes;
using model_set::QuoteForMessage;
using model_set::ReadEntry;

std::optional<uint64_t> ParseByteSize(std::string_view text) {
  const std::string s(absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size())));
  if (s.empty() || s[0] == '-' || s[0] == '+') return std::nullopt;
  size_t end = 0;
  while (end < s.size() &&
         (absl::ascii_isdigit(static_cast<unsigned char>(s[end])) || s[end] == '.')) {
    ++end;
  }
  double v = 0;
  if (end == 0 || !absl::SimpleAtod(s.substr(0, end), &v) || !std::isfinite(v) || v <= 0) {
    return std::nullopt;
  }
  const std::string suffix(absl::StripAsciiWhitespace(s.substr(end)));
  static const std::map<std::string, double> kScale = {
      {"", 1},         {"B", 1},       {"K", 0x1p10},   {"KiB", 0x1p10}, {"M", 0x1p20},
      {"MiB", 0x1p20}, {"G", 0x1p30},  {"GiB", 0x1p30}, {"T", 0x1p40},   {"TiB", 0x1p40},
      {"KB", 1e3},     {"MB", 1e6},    {"GB", 1e9},     {"TB", 1e12},    {"k", 0x1p10},
      {"Ki", 0x1p10},  {"Mi", 0x1p20}, {"Gi", 0x1p30},  {"Ti", 0x1p40}};
  const auto it = kScale.find(suffix);
  if (it == kScale.end()) return std::nullopt;
  const double bytes = std::floor(v * it->second);
  if (bytes < 1 || bytes > 0x1p62) return std::nullopt;
  return static_cast<uint64_t>(bytes);
}

absl::StatusOr<ModelSetSpec> ParseModelSet(std::string_view path, std::string_view contents,
                                           bool check_files) {
  absl::StatusOr<Json> doc = config::ParseConfigDocument(path, contents);
  if (!doc.ok()) return doc.status();
  std::vector<std::string> errors;
  ModelSetSpec set;
  for (const auto& [key, value] : doc->items()) {
    if (key != "models") {
      errors.push_back(absl::StrCat("unknown top-level key ", QuoteForMessage(key),
                                    " (the document holds `models:`, a list)"));
    }
  }
  const auto models = doc->find("models");
  if (models == doc->end() || !models->is_array() || models->empty()) {
    errors.push_back("`models` must be a non-empty list of models");
  } else if (models->size() > kMaxModels) {
    errors.push_back(
        absl::StrCat("`models` lists ", models->size(), " models (at most ", kMaxModels, ")"));
  } else {
    const std::filesystem::path folder =
        path.empty() ? std::filesystem::path() : std::filesystem::path(path).parent_path();
    std::map<std::string, std::string> names;  // name -> origin
    for (size_t i = 0; i < models->size(); ++i) {
      const Json& entry = (*models)[i];
      if (!entry.is_object()) {
        errors.push_back(absl::StrCat("models[", i, "]: must be a mapping"));
        continue;
      }
      ModelSpec m = ReadEntry(entry, i, folder, check_files, &errors);
      if (!m.name.empty()) {
        auto [it, inserted] = names.emplace(m.name, m.origin);
        if (!inserted) {
          errors.push_back(absl::StrCat(m.origin, ": name: duplicate of ", it->second));
        }
      }
      set.models.push_back(std::move(m));
    }
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(path), ": the model set is refused: ", absl::StrJoin(errors, "; ")));
  }
  return set;
}

absl::StatusOr<ModelSetSpec> LoadModelSetFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(
        std::string(path), ": cannot open the model set file: ", std::strerror(errno)));
  }
  std::string contents;
  contents.resize(kMaxModelSetBytes + 1);
  in.read(contents.data(), static_cast<std::streamsize>(contents.size()));
  contents.resize(static_cast<size_t>(in.gcount()));
  if (contents.size() > kMaxModelSetBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(path), ": the model set file is larger than 1 MiB"));
  }
  return ParseModelSet(path, contents);
}

}  // namespace infer
