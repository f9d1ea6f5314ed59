#include "libinfer/kernels/cpu/ops.h"

#include <algorithm>
#include <cmath>

#include "libinfer/kernels/cpu/ops_internal.h"
#include "libinfer/util/cpu_features.h"
#include "libinfer/util/fp16.h"

namespace infer::kernels::cpu {

void RmsNorm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  // Accumulate in double: rows are a few thousand values and this keeps the norm exact to
  // float precision whatever their magnitude spread.
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

#if defined(INFER_KERNELS_X86)
namespace {

bool UseAvx2() { return GetCpuFeatures().avx2; }

}  // namespace
#endif

void SiluMul(const float* gate, const float* up, float* out, int64_t n) {
#if defined(INFER_KERNELS_X86)
  if (UseAvx2()) return SiluMulAvx2(gate, up, out, n);
#endif
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void GeluTanhMul(const float* gate, const float* up, float* out, int64_t n) {
#if defined(INFER_KERNELS_X86)
  if (UseAvx2()) return GeluTanhMulAvx2(gate, up, out, n);
#endif
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  for (int64_t i = 0; i < n; ++i) {
    const float v = gate[i];
    const float g = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
    out[i] = g * up[i];
  }
}

void SoftCap(float* x, int64_t n, float cap) {
  const float inv = 1.0f / cap;
  for (int64_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] * inv);
}

void Scale(float* x, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void ToF16(const float* x, int64_t n, uint16_t* dst) {
#if defined(INFER_KERNELS_X86)
  if (UseAvx2()) return ToF16Avx2(x, n, dst);
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = Fp32ToFp16(x[i]);
}

void Add(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void Softmax(float* x, int64_t n) {
  if (n <= 0) return;
  const float max = *std::max_element(x, x + n);
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void Rope(float* x, int64_t num_heads, int64_t head_dim, int64_t rope_dim, int64_t pos,
          std::span<const float> inv_freq, bool interleaved) {
  const int64_t half = rope_dim / 2;
  // Angles in double: pos * inv_freq reaches ~1e5 radians at long contexts, where float's
  // argument reduction would lose several digits.
  float cos_table[512];
  float sin_table[512];
  for (int64_t i = 0; i < half; ++i) {
    const double angle = static_cast<double>(pos) * inv_freq[i];
    cos_table[i] = static_cast<float>(std::cos(angle));
    sin_table[i] = static_cast<float>(std::sin(angle));
  }
  for (int64_t h = 0; h < num_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const int64_t a = interleaved ? 2 * i : i;
      const int64_t b = interleaved ? 2 * i + 1 : i + half;
      const float x0 = v[a];
      const float x1 = v[b];
      v[a] = x0 * cos_table[i] - x1 * sin_table[i];
      v[b] = x0 * sin_table[i] + x1 * cos_table[i];
    }
  }
}

}  // namespace infer::kernels::cpu
