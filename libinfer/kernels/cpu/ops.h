// Element-wise and normalization kernels of the Llama forward pass (F32 activations).
#ifndef INFER_KERNELS_CPU_OPS_H_
#define INFER_KERNELS_CPU_OPS_H_

#include <cstdint>
#include <span>

namespace infer::kernels::cpu {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i], for one row of n values. out may alias x.
void RmsNorm(const float* x, const float* weight, float* out, int64_t n, float eps);

// out[i] = silu(gate[i]) * up[i] where silu(v) = v / (1 + exp(-v)). out may alias gate or up.
void SiluMul(const float* gate, const float* up, float* out, int64_t n);

// out[i] = gelu(gate[i]) * up[i] with GELU's tanh form (Gemma's activation):
// gelu(v) = v / 2 * (1 + tanh(sqrt(2 / pi) * (v + 0.044715 v^3))). out may alias gate or up.
void GeluTanhMul(const float* gate, const float* up, float* out, int64_t n);

// x[i] = cap * tanh(x[i] / cap) (Gemma 2's logit soft-capping); cap > 0.
void SoftCap(float* x, int64_t n, float cap);

// x[i] *= s.
void Scale(float* x, int64_t n, float s);

// dst[i] = x[i] as IEEE F16 bits, rounded to nearest even (util/fp16.h's Fp32ToFp16, bit for
// bit): what an F16 KV cache stores.
void ToF16(const float* x, int64_t n, uint16_t* dst);

// x[i] += y[i].
void Add(float* x, const float* y, int64_t n);

// In-place softmax over n values; returns nothing, the values sum to 1 afterwards.
void Softmax(float* x, int64_t n);

// Rotary position embedding of one token's heads, in place.
// x: num_heads rows of head_dim floats. The first rope_dim dims of each head are rotated by
// angle(pos, i) = pos * inv_freq[i] for pair i < rope_dim / 2; inv_freq holds rope_dim / 2
// values (theta, llama3 / linear scaling already folded in). Pairs are (2i, 2i + 1) when
// `interleaved`, else (i, i + rope_dim / 2) (the HF / NeoX layout).
void Rope(float* x, int64_t num_heads, int64_t head_dim, int64_t rope_dim, int64_t pos,
          std::span<const float> inv_freq, bool interleaved);

}  // namespace infer::kernels::cpu

#endif  // INFER_KERNELS_CPU_OPS_H_
