// A small GGUF writer for tests: builds valid files and, through its raw hooks, malformed ones.
// Written from the format description, independent of the reader under test.
#ifndef INFER_TESTS_FORMAT_GGUF_TEST_WRITER_H_
#define INFER_TESTS_FORMAT_GGUF_TEST_WRITER_H_

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace infer::testing {

// Little-endian byte buffer.
class ByteWriter {
 public:
  template <typename T>
  ByteWriter& Put(T v) {
    uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    bytes.insert(bytes.end(), tmp, tmp + sizeof(T));
    return *this;
  }
  ByteWriter& U32(uint32_t v) { return Put(v); }
  ByteWriter& U64(uint64_t v) { return Put(v); }
  ByteWriter& Str(std::string_view s) {
    U64(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
    return *this;
  }
  ByteWriter& Raw(const std::vector<uint8_t>& b) {
    bytes.insert(bytes.end(), b.begin(), b.end());
    return *this;
  }
  std::vector<uint8_t> bytes;
};

// GGUF value type codes (spelled out here rather than taken from the reader).
enum : uint32_t {
  kTU8 = 0,
  kTI8 = 1,
  kTU16 = 2,
  kTI16 = 3,
  kTU32 = 4,
  kTI32 = 5,
  kTF32 = 6,
  kTBool = 7,
  kTString = 8,
  kTArray = 9,
  kTU64 = 10,
  kTI64 = 11,
  kTF64 = 12,
};

struct GgufTestTensor {
  GgufTestTensor(std::string name, uint32_t ggml_type, std::vector<uint64_t> ne,
                 std::vector<uint8_t> data, std::optional<uint64_t> offset = std::nullopt)
      : name(std::move(name)),
        ggml_type(ggml_type),
        ne(std::move(ne)),
        data(std::move(data)),
        offset(offset) {}

  std::string name;
  uint32_t ggml_type = 0;
  std::vector<uint64_t> ne;        // innermost first, as stored
  std::vector<uint8_t> data;       // exactly the tensor's bytes
  std::optional<uint64_t> offset;  // override the computed (aligned) offset
};

class GgufBuilder {
 public:
  uint32_t magic = 0x46554747;
  uint32_t version = 3;
  uint64_t alignment = 32;  // used for layout; add general.alignment yourself to change it
  std::optional<uint64_t> tensor_count_override;
  std::optional<uint64_t> kv_count_override;

  // Appends a key/value whose value bytes are `value` (already encoded) with type `type`.
  GgufBuilder& KvRaw(std::string_view key, uint32_t type, const std::vector<uint8_t>& value) {
    ByteWriter w;
    w.Str(key).U32(type).Raw(value);
    kvs_.push_back(std::move(w.bytes));
    return *this;
  }
  template <typename T>
  GgufBuilder& Kv(std::string_view key, uint32_t type, T v) {
    return KvRaw(key, type, ByteWriter().Put(v).bytes);
  }
  GgufBuilder& KvString(std::string_view key, std::string_view s) {
    return KvRaw(key, kTString, ByteWriter().Str(s).bytes);
  }
  GgufBuilder& KvStringArray(std::string_view key, const std::vector<std::string>& items) {
    ByteWriter w;
    w.U32(kTString).U64(items.size());
    for (const auto& s : items) w.Str(s);
    return KvRaw(key, kTArray, w.bytes);
  }
  template <typename T>
  GgufBuilder& KvArray(std::string_view key, uint32_t elem_type, const std::vector<T>& items) {
    ByteWriter w;
    w.U32(elem_type).U64(items.size());
    for (const T& x : items) w.Put(x);
    return KvRaw(key, kTArray, w.bytes);
  }

  GgufBuilder& Tensor(GgufTestTensor t) {
    tensors_.push_back(std::move(t));
    return *this;
  }

  std::vector<uint8_t> Build() const {
    ByteWriter w;
    w.U32(magic).U32(version);
    w.U64(tensor_count_override.value_or(tensors_.size()));
    w.U64(kv_count_override.value_or(kvs_.size()));
    for (const auto& kv : kvs_) w.Raw(kv);
    std::vector<uint64_t> offsets;
    uint64_t next = 0;
    for (const auto& t : tensors_) {
      const uint64_t off = t.offset.value_or(next);
      offsets.push_back(off);
      next = AlignUp(off + t.data.size());
      w.Str(t.name).U32(static_cast<uint32_t>(t.ne.size()));
      for (uint64_t d : t.ne) w.U64(d);
      w.U32(t.ggml_type).U64(off);
    }
    if (tensors_.empty()) return w.bytes;
    w.bytes.resize(AlignUp(w.bytes.size()), 0);
    const size_t data_start = w.bytes.size();
    for (size_t i = 0; i < tensors_.size(); ++i) {
      if (offsets[i] > (uint64_t{1} << 30) || tensors_[i].data.empty())
        continue;  // hostile offsets: no data written
      const size_t begin = data_start + offsets[i];
      const size_t end = begin + tensors_[i].data.size();
      if (w.bytes.size() < end) w.bytes.resize(end, 0);
      std::memcpy(w.bytes.data() + begin, tensors_[i].data.data(), tensors_[i].data.size());
    }
    return w.bytes;
  }

 private:
  uint64_t AlignUp(uint64_t x) const { return (x + alignment - 1) / alignment * alignment; }

  std::vector<std::vector<uint8_t>> kvs_;
  std::vector<GgufTestTensor> tensors_;
};

// `n` bytes 0, 1, 2, ... (mod 251) so misplaced data is detected.
inline std::vector<uint8_t> Pattern(size_t n, uint8_t seed = 0) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i + seed) % 251);
  return v;
}

}  // namespace infer::testing

#endif  // INFER_TESTS_FORMAT_GGUF_TEST_WRITER_H_
