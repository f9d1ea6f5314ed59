#include "libinfer/format/gguf.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libinfer/util/status_macros.h"

namespace infer {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader assumes a little-endian host");

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32

std::string Str(std::string_view s) { return std::string(s); }

// Bytes of one element of a fixed-size type; 0 for string, array and unknown codes.
size_t FixedSize(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool:
      return 1;
    case GgufType::kUint16:
    case GgufType::kInt16:
      return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32:
      return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64:
      return 8;
    case GgufType::kString:
    case GgufType::kArray:
      return 0;
  }
  return 0;
}

bool IsKnownType(uint32_t code) { return code <= static_cast<uint32_t>(GgufType::kFloat64); }

bool IsSigned(GgufType type) {
  return type == GgufType::kInt8 || type == GgufType::kInt16 || type == GgufType::kInt32 ||
         type == GgufType::kInt64;
}

// Printable, shortened form of a string value.
std::string QuoteShort(std::string_view s, size_t max_chars = 48) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max_chars; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += absl::StrFormat("\\x%02x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += s.size() > max_chars ? "\"..." : "\"";
  return out;
}

// ggml tensor types known by name (ggml.h's enum ggml_type; gaps are retired codes).
constexpr std::pair<uint32_t, std::string_view> kGgmlTypeNames[] = {
    {0, "F32"},     {1, "F16"},    {2, "Q4_0"},     {3, "Q4_1"},    {6, "Q5_0"},     {7, "Q5_1"},
    {8, "Q8_0"},    {9, "Q8_1"},   {10, "Q2_K"},    {11, "Q3_K"},   {12, "Q4_K"},    {13, "Q5_K"},
    {14, "Q6_K"},   {15, "Q8_K"},  {16, "IQ2_XXS"}, {17, "IQ2_XS"}, {18, "IQ3_XXS"}, {19, "IQ1_S"},
    {20, "IQ4_NL"}, {21, "IQ3_S"}, {22, "IQ2_S"},   {23, "IQ4_XS"}, {24, "I8"},      {25, "I16"},
    {26, "I32"},    {27, "I64"},   {28, "F64"},     {29, "IQ1_M"},  {30, "BF16"},    {34, "TQ1_0"},
    {35, "TQ2_0"},
};

std::optional<DType> DTypeFromGgml(uint32_t ggml_type) {
  switch (ggml_type) {
    case 0:
      return DType::kF32;
    case 1:
      return DType::kF16;
    case 2:
      return DType::kQ4_0;
    case 3:
      return DType::kQ4_1;
    case 6:
      return DType::kQ5_0;
    case 7:
      return DType::kQ5_1;
    case 8:
      return DType::kQ8_0;
    case 10:
      return DType::kQ2_K;
    case 11:
      return DType::kQ3_K;
    case 12:
      return DType::kQ4_K;
    case 13:
      return DType::kQ5_K;
    case 14:
      return DType::kQ6_K;
    case 20:
      return DType::kIQ4_NL;
    case 23:
      return DType::kIQ4_XS;
    case 30:
      return DType::kBF16;
    default:
      return std::nullopt;
  }
}

}  // namespace

std::string GgufTypeName(GgufType type) {
  static constexpr std::string_view kNames[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                                "int32",  "float32", "bool",   "string", "array",
                                                "uint64", "int64",   "float64"};
  const uint32_t code = static_cast<uint32_t>(type);
  if (IsKnownType(code)) return Str(kNames[code]);
  return absl::StrCat("type(", code, ")");
}

std::optional<std::string_view> GgmlTypeName(uint32_t ggml_type) {
  for (const auto& [code, name] : kGgmlTypeNames) {
    if (code == ggml_type) return name;
  }
  return std::nullopt;
}

// ---- GgufValue ----------------------------------------------------------------------------

bool GgufValue::is_integer() const {
  switch (type_) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kUint16:
    case GgufType::kInt16:
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kUint64:
    case GgufType::kInt64:
      return true;
    default:
      return false;
  }
}

std::optional<int64_t> GgufValue::AsInt64() const {
  if (!is_integer()) return std::nullopt;
  if (!IsSigned(type_) && bits_ > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return std::nullopt;
  }
  return static_cast<int64_t>(bits_);
}

std::optional<uint64_t> GgufValue::AsUint64() const {
  if (!is_integer()) return std::nullopt;
  if (IsSigned(type_) && static_cast<int64_t>(bits_) < 0) return std::nullopt;
  return bits_;
}

std::optional<double> GgufValue::AsDouble() const {
  if (!is_float()) return std::nullopt;
  return float_;
}

std::optional<bool> GgufValue::AsBool() const {
  if (type_ != GgufType::kBool) return std::nullopt;
  return bits_ != 0;
}

std::optional<std::string_view> GgufValue::AsString() const {
  if (type_ != GgufType::kString) return std::nullopt;
  return string_;
}

// Parsing helpers live in a friend class so GgufValue/GgufFile keep their fields private.
class GgufParser {
 public:
  GgufParser(GgufFile& file) : file_(file), bytes_(file.bytes_) {}

  absl::Status Run();

  // Builds a scalar value of fixed-size `type` from its little-endian bytes at `p`.
  static GgufValue MakeScalar(GgufType type, const uint8_t* p) {
    GgufValue v;
    v.type_ = type;
    uint64_t raw = 0;
    const size_t n = FixedSize(type);
    std::memcpy(&raw, p, n);
    switch (type) {
      case GgufType::kInt8:
        v.bits_ = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int8_t>(raw)));
        break;
      case GgufType::kInt16:
        v.bits_ = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int16_t>(raw)));
        break;
      case GgufType::kInt32:
        v.bits_ = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(raw)));
        break;
      case GgufType::kFloat32: {
        float f;
        std::memcpy(&f, p, 4);
        v.bits_ = raw;
        v.float_ = f;
        break;
      }
      case GgufType::kFloat64: {
        double d;
        std::memcpy(&d, p, 8);
        v.bits_ = raw;
        v.float_ = d;
        break;
      }
      default:
        v.bits_ = raw;
    }
    return v;
  }

  static GgufValue ArrayElement(const GgufValue& a, uint64_t i) {
    if (a.type_ != GgufType::kArray || i >= a.count_) return GgufValue();
    if (a.element_type_ == GgufType::kString) {
      GgufValue v;
      v.type_ = GgufType::kString;
      v.string_ = a.strings_[i];
      return v;
    }
    if (a.element_type_ == GgufType::kArray) return a.arrays_[i];
    return MakeScalar(a.element_type_, a.raw_.data() + i * FixedSize(a.element_type_));
  }

 private:
  size_t remaining() const { return bytes_.size() - pos_; }

  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(file_.display_name_, ": ", Str(what)));
  }

  absl::Status Truncated(std::string_view field, uint64_t need) const {
    return Error(absl::StrCat(Str(field), ": unexpected end of file at offset ", pos_, " (needs ",
                              need, " bytes, ", remaining(), " left)"));
  }

  template <typename T>
  absl::Status ReadPod(std::string_view field, T* out) {
    if (remaining() < sizeof(T)) return Truncated(field, sizeof(T));
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return absl::OkStatus();
  }

  absl::Status ReadString(std::string_view field, std::string_view* out) {
    uint64_t len = 0;
    INFER_RETURN_IF_ERROR(ReadPod(absl::StrCat(Str(field), " length"), &len));
    if (len > remaining()) {
      return Error(absl::StrCat(Str(field), ": string length ", len, " at offset ", pos_ - 8,
                                " extends past the end of the file (", remaining(),
                                " bytes left)"));
    }
    *out = std::string_view(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return absl::OkStatus();
  }

  absl::Status ReadValue(std::string_view field, GgufType type, int depth, GgufValue* out);
  absl::Status ReadMetadata(uint64_t count);
  absl::Status ReadTensorInfos(uint64_t count, std::vector<uint64_t>* offsets);
  absl::Status PlaceTensors(const std::vector<uint64_t>& offsets);

  GgufFile& file_;
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  uint64_t nested_elements_ = 0;  // arrays inside arrays seen so far
};

GgufValue GgufValue::At(uint64_t i) const { return GgufParser::ArrayElement(*this, i); }

std::string GgufValue::Summary(size_t max_elements) const {
  switch (type_) {
    case GgufType::kString:
      return QuoteShort(string_);
    case GgufType::kBool:
      return bits_ ? "true" : "false";
    case GgufType::kFloat32:
    case GgufType::kFloat64:
      return absl::StrFormat("%g", float_);
    case GgufType::kArray: {
      std::string out = absl::StrCat("array<", GgufTypeName(element_type_), ">[", count_, "] [");
      for (uint64_t i = 0; i < count_ && i < max_elements; ++i) {
        if (i > 0) out += ", ";
        out += At(i).Summary(max_elements);
      }
      if (count_ > max_elements) out += ", ...";
      out += "]";
      return out;
    }
    default:
      if (IsSigned(type_)) return absl::StrCat(static_cast<int64_t>(bits_));
      return absl::StrCat(bits_);
  }
}

// ---- parsing ------------------------------------------------------------------------------

absl::Status GgufParser::ReadValue(std::string_view field, GgufType type, int depth,
                                   GgufValue* out) {
  out->type_ = type;
  if (const size_t n = FixedSize(type); n > 0) {
    if (remaining() < n) return Truncated(field, n);
    *out = MakeScalar(type, bytes_.data() + pos_);
    if (type == GgufType::kBool && out->bits_ > 1) {
      return Error(absl::StrCat(Str(field), ": bool value ", out->bits_, " is not 0 or 1"));
    }
    pos_ += n;
    return absl::OkStatus();
  }
  if (type == GgufType::kString) return ReadString(field, &out->string_);
  // Array.
  if (depth >= kGgufMaxArrayDepth) {
    return Error(absl::StrCat(Str(field), ": arrays nested deeper than ", kGgufMaxArrayDepth));
  }
  uint32_t elem_code = 0;
  INFER_RETURN_IF_ERROR(ReadPod(absl::StrCat(Str(field), " array element type"), &elem_code));
  if (!IsKnownType(elem_code)) {
    return Error(absl::StrCat(Str(field), ": unknown array element type ", elem_code));
  }
  const GgufType elem = static_cast<GgufType>(elem_code);
  uint64_t count = 0;
  INFER_RETURN_IF_ERROR(ReadPod(absl::StrCat(Str(field), " array length"), &count));
  out->element_type_ = elem;
  out->count_ = count;
  // Smallest encoding of one element: bounds the count by the bytes left before allocating.
  const size_t fixed = FixedSize(elem);
  const size_t min_elem = fixed > 0 ? fixed : (elem == GgufType::kString ? 8 : 12);
  if (count > remaining() / min_elem) {
    return Error(absl::StrCat(
        Str(field), ": array of ", count, " ", GgufTypeName(elem), " elements at offset ",
        pos_ - 12, " cannot fit in the rest of the file (", remaining(), " bytes left)"));
  }
  if (fixed > 0) {
    out->raw_ = bytes_.subspan(pos_, count * fixed);
    if (elem == GgufType::kBool) {
      for (uint8_t b : out->raw_) {
        if (b > 1) return Error(absl::StrCat(Str(field), ": bool element is not 0 or 1"));
      }
    }
    pos_ += count * fixed;
    return absl::OkStatus();
  }
  if (elem == GgufType::kString) {
    out->strings_.resize(count);
    for (uint64_t i = 0; i < count; ++i) {
      INFER_RETURN_IF_ERROR(ReadString(absl::StrCat(Str(field), "[", i, "]"), &out->strings_[i]));
    }
    return absl::OkStatus();
  }
  // Nested arrays cost far more memory than their bytes on disk: bound them for the whole file.
  nested_elements_ += count;
  if (nested_elements_ > kGgufMaxNestedArrays) {
    return Error(absl::StrCat(Str(field), ": more than ", kGgufMaxNestedArrays,
                              " nested arrays in the file"));
  }
  out->arrays_.resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    INFER_RETURN_IF_ERROR(ReadValue(absl::StrCat(Str(field), "[", i, "]"), GgufType::kArray,
                                    depth + 1, &out->arrays_[i]));
  }
  return absl::OkStatus();
}

absl::Status GgufParser::ReadMetadata(uint64_t count) {
  // A key/value takes at least 8 (key length) + 1 (key) + 4 (type) + 1 (value) bytes.
  if (count > remaining() / 14) {
    return Error(absl::StrCat("header field metadata_kv_count: ", count,
                              " key/values cannot fit in the file (", remaining(), " bytes left)"));
  }
  file_.metadata_.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view key;
    INFER_RETURN_IF_ERROR(ReadString(absl::StrCat("metadata key #", i), &key));
    if (key.empty() || key.size() > kGgufMaxKeyLength) {
      return Error(absl::StrCat("metadata key #", i, " has length ", key.size(), " (expected 1..",
                                kGgufMaxKeyLength, ")"));
    }
    const std::string field = absl::StrCat("key '", Str(key), "'");
    if (file_.key_index_.count(key) != 0) return Error(absl::StrCat("duplicate ", field));
    uint32_t type_code = 0;
    INFER_RETURN_IF_ERROR(ReadPod(absl::StrCat(field, " value type"), &type_code));
    if (!IsKnownType(type_code)) {
      return Error(absl::StrCat(field, ": unknown value type ", type_code));
    }
    GgufValue value;
    INFER_RETURN_IF_ERROR(ReadValue(field, static_cast<GgufType>(type_code), 0, &value));
    file_.key_index_.emplace(Str(key), file_.metadata_.size());
    file_.metadata_.emplace_back(Str(key), std::move(value));
  }
  return absl::OkStatus();
}

absl::Status GgufParser::ReadTensorInfos(uint64_t count, std::vector<uint64_t>* offsets) {
  // A tensor info takes at least 8 (name length) + 4 (n_dims) + 8 (one dim) + 4 (type) + 8.
  if (count > remaining() / 32) {
    return Error(absl::StrCat("header field tensor_count: ", count,
                              " tensor infos cannot fit in the file (", remaining(),
                              " bytes left)"));
  }
  file_.tensors_.reserve(count);
  offsets->reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view name;
    INFER_RETURN_IF_ERROR(ReadString(absl::StrCat("tensor #", i, " name"), &name));
    if (name.empty()) return Error(absl::StrCat("tensor #", i, " has an empty name"));
    const std::string field = absl::StrCat("tensor '", Str(name), "'");
    if (file_.tensor_index_.count(name) != 0) {
      return Error(absl::StrCat("duplicate ", field));
    }
    uint32_t n_dims = 0;
    INFER_RETURN_IF_ERROR(ReadPod(absl::StrCat(field, " n_dims"), &n_dims));
    if (n_dims < 1 || n_dims > 4) {
      return Error(absl::StrCat(field, ": n_dims is ", n_dims, " (expected 1..4)"));
    }
    uint64_t ne[4] = {};
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      INFER_RETURN_IF_ERROR(ReadPod(absl::StrCat(field, " ne[", d, "]"), &ne[d]));
      if (ne[d] == 0 || ne[d] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Error(
            absl::StrCat(field, ": dimension ne[", d, "] = ", ne[d], " (expected 1..2^63-1)"));
      }
      if (static_cast<int64_t>(ne[d]) > std::numeric_limits<int64_t>::max() / numel) {
        return Error(absl::StrCat(field, ": element count overflows int64 at ne[", d, "]"));
      }
      numel *= static_cast<int64_t>(ne[d]);
    }
    uint32_t ggml_type = 0;
    INFER_RETURN_IF_ERROR(ReadPod(absl::StrCat(field, " type"), &ggml_type));
    const std::optional<DType> dtype = DTypeFromGgml(ggml_type);
    if (!dtype.has_value()) {
      const std::optional<std::string_view> type_name = GgmlTypeName(ggml_type);
      return Error(absl::StrCat(
          field, ": unsupported tensor type ",
          type_name ? absl::StrCat(Str(*type_name), " (", ggml_type, ")") : absl::StrCat(ggml_type),
          "; supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1"));
    }
    const DTypeInfo& info = GetDTypeInfo(*dtype);
    if (static_cast<int64_t>(ne[0]) % info.block_elems != 0) {
      return Error(absl::StrCat(field, ": row length ne[0] = ", ne[0], " is not a multiple of the ",
                                Str(info.name), " block size ", info.block_elems));
    }
    const std::optional<int64_t> nbytes = DTypeBytes(*dtype, numel);
    if (!nbytes.has_value()) {
      return Error(absl::StrCat(field, ": byte size of ", numel, " ", Str(info.name),
                                " elements overflows int64"));
    }
    uint64_t offset = 0;
    INFER_RETURN_IF_ERROR(ReadPod(absl::StrCat(field, " offset"), &offset));

    TensorView view;
    view.name = Str(name);
    view.dtype = *dtype;
    for (uint32_t d = n_dims; d-- > 0;) view.shape.push_back(static_cast<int64_t>(ne[d]));
    view.nbytes = static_cast<size_t>(*nbytes);
    file_.tensor_index_.emplace(view.name, file_.tensors_.size());
    file_.tensors_.push_back(std::move(view));
    offsets->push_back(offset);
  }
  return absl::OkStatus();
}

absl::Status GgufParser::PlaceTensors(const std::vector<uint64_t>& offsets) {
  const uint64_t size = bytes_.size();
  const uint64_t align = file_.alignment_;
  // Start of the data section: the end of the tensor infos rounded up to the alignment.
  const uint64_t data_start =
      pos_ % align == 0 ? pos_ : pos_ + (align - pos_ % align);  // align <= 2^31: no overflow
  file_.data_offset_ = data_start;
  std::vector<std::tuple<uint64_t, uint64_t, size_t>> ranges;  // [begin, end), tensor index
  ranges.reserve(offsets.size());
  for (size_t i = 0; i < offsets.size(); ++i) {
    TensorView& t = file_.tensors_[i];
    const uint64_t off = offsets[i];
    if (off % align != 0) {
      return Error(absl::StrCat("tensor '", t.name, "': data offset ", off,
                                " is not a multiple of the alignment ", align));
    }
    const uint64_t begin = data_start + off;  // may wrap: checked next
    if (begin < data_start || begin > size || t.nbytes > size - begin) {
      return Error(absl::StrCat("tensor '", t.name, "': data [offset ", off, " + data section ",
                                data_start, ", ", t.nbytes,
                                " bytes) extends past the end of the file (", size, " bytes)"));
    }
    t.data = bytes_.data() + begin;
    ranges.emplace_back(begin, begin + t.nbytes, i);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (std::get<0>(ranges[i]) < std::get<1>(ranges[i - 1])) {
      return Error(absl::StrCat("tensor '", file_.tensors_[std::get<2>(ranges[i])].name,
                                "': data overlaps tensor '",
                                file_.tensors_[std::get<2>(ranges[i - 1])].name, "'"));
    }
  }
  return absl::OkStatus();
}

absl::Status GgufParser::Run() {
  uint32_t magic = 0;
  INFER_RETURN_IF_ERROR(ReadPod("header field magic", &magic));
  if (magic != kMagic) {
    return Error(absl::StrFormat("not a GGUF file: magic is 0x%08x (expected \"GGUF\")", magic));
  }
  INFER_RETURN_IF_ERROR(ReadPod("header field version", &file_.version_));
  if (file_.version_ != 2 && file_.version_ != 3) {
    return Error(absl::StrCat("unsupported GGUF version ", file_.version_,
                              " (expected 2 or 3, little-endian)"));
  }
  uint64_t tensor_count = 0, kv_count = 0;
  INFER_RETURN_IF_ERROR(ReadPod("header field tensor_count", &tensor_count));
  INFER_RETURN_IF_ERROR(ReadPod("header field metadata_kv_count", &kv_count));
  INFER_RETURN_IF_ERROR(ReadMetadata(kv_count));

  if (const GgufValue* a = file_.Find("general.alignment"); a != nullptr) {
    const std::optional<uint64_t> align = a->AsUint64();
    if (!align.has_value() || *align == 0 || !std::has_single_bit(*align) ||
        *align > (uint64_t{1} << 31)) {
      return Error(absl::StrCat("key 'general.alignment': expected a power of two <= 2^31, got ",
                                GgufTypeName(a->type()), " ", a->Summary()));
    }
    file_.alignment_ = *align;
  }
  std::vector<uint64_t> offsets;
  INFER_RETURN_IF_ERROR(ReadTensorInfos(tensor_count, &offsets));
  return PlaceTensors(offsets);
}

// ---- GgufFile -----------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Parse(std::span<const uint8_t> bytes,
                                                          std::string display_name) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->display_name_ = std::move(display_name);
  file->bytes_ = bytes;
  GgufParser parser(*file);
  INFER_RETURN_IF_ERROR(parser.Run());
  return file;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  INFER_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapping, MappedFile::Open(path));
  INFER_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, Parse(mapping->bytes(), path));
  file->mapping_ = std::move(mapping);
  return file;
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

const TensorView* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

absl::StatusOr<const GgufValue*> Lookup(const GgufFile& f, std::string_view key) {
  const GgufValue* v = f.Find(key);
  if (v == nullptr) {
    return absl::NotFoundError(absl::StrCat(f.display_name(), ": key '", Str(key), "' not found"));
  }
  return v;
}

absl::Status Mismatch(const GgufFile& f, std::string_view key, std::string_view expected,
                      const GgufValue& v) {
  std::string got = GgufTypeName(v.type());
  if (v.type() != GgufType::kArray) absl::StrAppend(&got, " ", v.Summary());
  if (v.type() == GgufType::kArray) absl::StrAppend(&got, " of ", GgufTypeName(v.element_type()));
  return absl::InvalidArgumentError(absl::StrCat(f.display_name(), ": key '", Str(key),
                                                 "': expected ", Str(expected), ", got ", got));
}

}  // namespace

absl::StatusOr<std::string> GgufFile::GetString(std::string_view key) const {
  INFER_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*this, key));
  if (auto s = v->AsString()) return Str(*s);
  return Mismatch(*this, key, "string", *v);
}

absl::StatusOr<uint64_t> GgufFile::GetUint64(std::string_view key) const {
  INFER_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*this, key));
  if (auto x = v->AsUint64()) return *x;
  return Mismatch(*this, key, "a non-negative integer", *v);
}

absl::StatusOr<int64_t> GgufFile::GetInt64(std::string_view key) const {
  INFER_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*this, key));
  if (auto x = v->AsInt64()) return *x;
  return Mismatch(*this, key, "an integer that fits int64", *v);
}

absl::StatusOr<double> GgufFile::GetFloat(std::string_view key) const {
  INFER_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*this, key));
  if (auto x = v->AsDouble()) return *x;
  return Mismatch(*this, key, "float32 or float64", *v);
}

absl::StatusOr<bool> GgufFile::GetBool(std::string_view key) const {
  INFER_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*this, key));
  if (auto x = v->AsBool()) return *x;
  return Mismatch(*this, key, "bool", *v);
}

absl::StatusOr<std::vector<std::string_view>> GgufFile::GetStringArray(std::string_view key) const {
  INFER_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*this, key));
  if (v->type() != GgufType::kArray || v->element_type() != GgufType::kString) {
    return Mismatch(*this, key, "array of string", *v);
  }
  std::vector<std::string_view> out;
  out.reserve(v->size());
  for (uint64_t i = 0; i < v->size(); ++i) out.push_back(*v->At(i).AsString());
  return out;
}

absl::StatusOr<std::vector<float>> GgufFile::GetFloatArray(std::string_view key) const {
  INFER_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*this, key));
  if (v->type() != GgufType::kArray ||
      (v->element_type() != GgufType::kFloat32 && v->element_type() != GgufType::kFloat64)) {
    return Mismatch(*this, key, "array of float32 or float64", *v);
  }
  std::vector<float> out;
  out.reserve(v->size());
  for (uint64_t i = 0; i < v->size(); ++i) out.push_back(static_cast<float>(*v->At(i).AsDouble()));
  return out;
}

absl::StatusOr<std::vector<int32_t>> GgufFile::GetInt32Array(std::string_view key) const {
  INFER_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*this, key));
  if (v->type() != GgufType::kArray) return Mismatch(*this, key, "array of integers", *v);
  std::vector<int32_t> out;
  out.reserve(v->size());
  for (uint64_t i = 0; i < v->size(); ++i) {
    const GgufValue e = v->At(i);
    const std::optional<int64_t> x = e.AsInt64();
    if (!x.has_value() || *x < std::numeric_limits<int32_t>::min() ||
        *x > std::numeric_limits<int32_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat(
          display_name_, ": key '", Str(key), "': element ", i,
          " expected an integer that fits int32, got ", GgufTypeName(e.type()), " ", e.Summary()));
    }
    out.push_back(static_cast<int32_t>(*x));
  }
  return out;
}

}  // namespace infer
