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
  // K-quants: superblocks of 256 with sub-block scales (BlockQ2_K ... below).
  kQ2_K,    // 16 x 16: 4-bit scale and min each; 2-bit codes
  kQ3_K,    // 16 x 16: 6-bit signed scales; 3-bit signed codes
  kQ4_K,    // 8 x 32: 6-bit scale and min each; 4-bit codes
  kQ5_K,    // 8 x 32: 6-bit scale and min each; 5-bit codes
  kQ6_K,    // 16 x 16: int8 scales; 6-bit signed codes
  kIQ4_NL,  // blocks of 32: fp16 d, 4-bit indices into a fixed non-linear table of int8 values
  kIQ4_XS,  // superblocks of 256 = 8 x 32 with 6-bit signed scales; IQ4_NL's table
};
inline constexpr int kNumDTypes = static_cast<int>(DType::kIQ4_XS) + 1;

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

// K-quant superblocks (GGML's block_q2_K ... block_q6_K, block_iq4_xs): 256 elements, split into
// sub-blocks of 16 or 32 that carry their own scale (and min). The bit packing of the codes and
// of the scales is decoded in libinfer/kernels/cpu/quant_blocks.h.
inline constexpr int kSuperBlock = 256;

// x = d * (scales[g] & 15) * q - dmin * (scales[g] >> 4) for group g = i / 16; q is 2 bits of
// qs[32 * (i / 128) + i % 32] at bit 2 * ((i / 32) % 4).
struct BlockQ2_K {
  uint8_t scales[kSuperBlock / 16];
  uint8_t qs[kSuperBlock / 4];
  uint16_t d;
  uint16_t dmin;
};
static_assert(sizeof(BlockQ2_K) == 84);

// x = d * (s[g] - 32) * (q - 4 * !h), s: 16 6-bit scales packed in 12 bytes, q: 2 bits as Q2_K,
// h: bit i / 32 of hmask[i % 32].
struct BlockQ3_K {
  uint8_t hmask[kSuperBlock / 8];
  uint8_t qs[kSuperBlock / 4];
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110);

// x = d * sc[j] * q - dmin * m[j] for sub-block j = i / 32 (6-bit sc and m packed in 12 bytes);
// q is the nibble of qs[32 * (j / 2) + i % 32] (low nibble for even j).
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kSuperBlock / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

// As Q4_K with a fifth bit: bit j of qh[i % 32].
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kSuperBlock / 8];
  uint8_t qs[kSuperBlock / 2];
};
static_assert(sizeof(BlockQ5_K) == 176);

// x = d * scales[g] * (q - 32), q = low nibble from ql, two high bits from qh (see
// quant_blocks.h).
struct BlockQ6_K {
  uint8_t ql[kSuperBlock / 2];
  uint8_t qh[kSuperBlock / 4];
  int8_t scales[kSuperBlock / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

// x = d * kIq4Values[q], nibbles ordered as Q4_0's.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kQuantBlock / 2];
};
static_assert(sizeof(BlockIQ4_NL) == 18);

// x = d * (s[j] - 32) * kIq4Values[q]: 6-bit scales, low 4 bits in scales_l, high 2 in scales_h;
// sub-block j's nibbles are qs[16 j ... 16 j + 15] ordered as Q4_0's.
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[kSuperBlock / 64];
  uint8_t qs[kSuperBlock / 2];
};
static_assert(sizeof(BlockIQ4_XS) == 136);

}  // namespace infer

#endif  // INFER_TENSOR_DTYPE_H_
