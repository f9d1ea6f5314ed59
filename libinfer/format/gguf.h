// GGUF (llama.cpp's model file format, versions 2 and 3) reader: metadata key/values and tensor
// views, zero-copy over a memory mapping.
//
// File layout (all little-endian):
//   "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count x  { string key | u32 value_type | value }
//   tensor_count x { string name | u32 n_dims | u64 ne[n_dims] (innermost first) | u32 ggml_type
//                    | u64 offset (relative to the data section, a multiple of the alignment) }
//   padding to `general.alignment` (default 32) | data section
// A string is u64 length + bytes (no terminator); an array is u32 element_type + u64 count +
// elements.
//
// Every count, length and offset is checked against the bytes that remain before anything is
// allocated, so a hostile file gives an error (never a crash, a huge allocation or a hang).
#ifndef INFER_FORMAT_GGUF_H_
#define INFER_FORMAT_GGUF_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "libinfer/tensor/tensor_view.h"
#include "libinfer/util/mapped_file.h"

namespace infer {

// GGUF metadata value types; the values are the on-disk codes.
enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// "uint8", "string", "array", ...; "type(N)" for codes outside the enum.
std::string GgufTypeName(GgufType type);

// Name of a ggml tensor type code ("F32", "Q4_K", ...), or nullopt when the code is unknown.
std::optional<std::string_view> GgmlTypeName(uint32_t ggml_type);

// Maximum nesting of arrays inside arrays (an array of scalars has depth 1).
inline constexpr int kGgufMaxArrayDepth = 8;
// Maximum number of arrays nested inside other arrays, over the whole file.
inline constexpr uint64_t kGgufMaxNestedArrays = uint64_t{1} << 20;
// Maximum key length in bytes (the GGUF spec's limit).
inline constexpr uint64_t kGgufMaxKeyLength = 65535;

// One metadata value. Strings (and string array elements) are views into the file's bytes, so a
// value is valid only while its GgufFile lives. Copyable.
class GgufValue {
 public:
  GgufValue() = default;

  GgufType type() const { return type_; }
  bool is_integer() const;  // any of the eight integer types
  bool is_float() const { return type_ == GgufType::kFloat32 || type_ == GgufType::kFloat64; }

  // Scalar conversions; nullopt when the type does not match or the value does not fit.
  std::optional<int64_t> AsInt64() const;            // any integer type whose value fits int64
  std::optional<uint64_t> AsUint64() const;          // any integer type whose value is >= 0
  std::optional<double> AsDouble() const;            // float32 / float64 only
  std::optional<bool> AsBool() const;                // bool only
  std::optional<std::string_view> AsString() const;  // string only

  // Arrays. element_type() and size() are meaningful only when type() == kArray.
  GgufType element_type() const { return element_type_; }
  uint64_t size() const { return count_; }
  // The i-th element (0 <= i < size()) as a standalone value (nested arrays are copied).
  GgufValue At(uint64_t i) const;

  // A printable one-line summary: the value, or for arrays their type, length and the first
  // `max_elements` elements. Long strings are shortened and control characters escaped.
  std::string Summary(size_t max_elements = 8) const;

 private:
  friend class GgufParser;

  GgufType type_ = GgufType::kUint8;
  uint64_t bits_ = 0;  // integers (two's complement, sign-extended), bool, raw float bits
  double float_ = 0;   // float32 / float64 value
  std::string_view string_;
  // Arrays: fixed-size elements stay in the file (raw_); strings and nested arrays are indexed.
  GgufType element_type_ = GgufType::kUint8;
  uint64_t count_ = 0;
  std::span<const uint8_t> raw_;
  std::vector<std::string_view> strings_;
  std::vector<GgufValue> arrays_;
};

// A parsed GGUF file. Immutable after construction; all const methods are thread-safe.
class GgufFile {
 public:
  // Maps `path` and parses it; the mapping lives as long as the returned object. Errors
  // (InvalidArgument for a malformed file, plus MappedFile's errors) name the path and the field.
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);

  // Parses `bytes` without copying them: the caller keeps them alive (and unchanged) for as long
  // as the result and any TensorView / string view taken from it are used. `display_name` starts
  // every error message.
  static absl::StatusOr<std::unique_ptr<GgufFile>> Parse(std::span<const uint8_t> bytes,
                                                         std::string display_name);

  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& display_name() const { return display_name_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  // Offset of the data section from the start of the file (tensor offsets are relative to it).
  uint64_t data_offset() const { return data_offset_; }
  std::span<const uint8_t> bytes() const { return bytes_; }

  // ---- metadata ----
  bool Has(std::string_view key) const { return Find(key) != nullptr; }
  // The value of `key`, or nullptr when absent.
  const GgufValue* Find(std::string_view key) const;
  // Every key/value in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }

  // Typed lookups. NotFound when the key is absent; InvalidArgument naming the key, the expected
  // type and the actual type (or the value) when it does not convert.
  absl::StatusOr<std::string> GetString(std::string_view key) const;
  absl::StatusOr<uint64_t> GetUint64(std::string_view key) const;  // any integer type, >= 0
  absl::StatusOr<int64_t> GetInt64(std::string_view key) const;    // any integer type that fits
  absl::StatusOr<double> GetFloat(std::string_view key) const;     // float32 or float64
  absl::StatusOr<bool> GetBool(std::string_view key) const;
  // Views into the file's bytes (valid while this object lives).
  absl::StatusOr<std::vector<std::string_view>> GetStringArray(std::string_view key) const;
  absl::StatusOr<std::vector<float>> GetFloatArray(std::string_view key) const;  // f32/f64 elems
  // Any integer element type whose values all fit int32.
  absl::StatusOr<std::vector<int32_t>> GetInt32Array(std::string_view key) const;

  // ---- tensors ----
  // In file order. Shapes are outermost first (GGUF's ne reversed); data points into bytes().
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // The tensor called `name`, or nullptr.
  const TensorView* FindTensor(std::string_view name) const;

 private:
  friend class GgufParser;
  GgufFile() = default;

  std::string display_name_;
  std::unique_ptr<MappedFile> mapping_;  // set by Open()
  std::span<const uint8_t> bytes_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, size_t, std::less<>> key_index_;  // key -> index in metadata_
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;  // name -> index in tensors_
};

}  // namespace infer

#endif  // INFER_FORMAT_GGUF_H_
