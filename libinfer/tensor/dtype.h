// Element types of weights and activations, including GGML's quantized block types.
#ifndef INFER_TENSOR_DTYPE_H_
#define INFER_TENSOR_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace infer {

// Values match nothing on disk: formats map their own codes (GGUF's ggml_type, safetensors'
// strings) to these.
enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kQ8_0,  // blocks of 32: fp16 scale d, 32 x int8; x = d * q
  kQ4_0,  // blocks of 32: fp16 scale d, 16 bytes of nibbles; x = d * (q - 8)
  kQ4_1,  // blocks of 32: fp16 scale d, fp16 min m, 16 bytes of nibbles; x = d * q + m
  kQ5_0,  // blocks of 32: fp16 scale d, 32 high bits, 16 bytes of nibbles; x = d * (q - 16)
  kQ5_1,  // blocks of 32: fp16 d, fp16 min m, 32 high bits, 16 bytes of nibbles; x = d * q + m
};

struct DTypeInfo {
  const char* name;     // "F32", "Q4_1", ... (a C string: usable with absl::StrCat)
  int64_t block_elems;  // elements per block (1 for plain types)
  int64_t block_bytes;  // bytes per block
};

const DTypeInfo& GetDTypeInfo(DType dtype);
inline const char* DTypeName(DType dtype) { return GetDTypeInfo(dtype).name; }

// Bytes taken by `elems` elements of `dtype`, or nullopt when `elems` is not a whole number of
// blocks, is negative, or the byte count overflows int64.
std::optional<int64_t> DTypeBytes(DType dtype, int64_t elems);

// In-memory layouts of the quantized blocks, identical to GGML's so GGUF data is used in place.
// Nibble order: byte j holds element j in its low nibble and element j + 16 in its high nibble.
inline constexpr int kQuantBlock = 32;

struct BlockQ8_0 {
  uint16_t d;  // fp16 scale
  int8_t qs[kQuantBlock];
};
static_assert(sizeof(BlockQ8_0) == 34);

struct BlockQ4_0 {
  uint16_t d;  // fp16 scale
  uint8_t qs[kQuantBlock / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

struct BlockQ4_1 {
  uint16_t d;  // fp16 scale
  uint16_t m;  // fp16 minimum
  uint8_t qs[kQuantBlock / 2];
};
static_assert(sizeof(BlockQ4_1) == 20);

// 5-bit codes: the low four bits as in Q4_x, the fifth of element i in bit i of qh (a
// little-endian uint32).
struct BlockQ5_0 {
  uint16_t d;  // fp16 scale
  uint8_t qh[4];
  uint8_t qs[kQuantBlock / 2];
};
static_assert(sizeof(BlockQ5_0) == 22);

struct BlockQ5_1 {
  uint16_t d;  // fp16 scale
  uint16_t m;  // fp16 minimum
  uint8_t qh[4];
  uint8_t qs[kQuantBlock / 2];
};
static_assert(sizeof(BlockQ5_1) == 24);

}  // namespace infer

#endif  // INFER_TENSOR_DTYPE_H_
