// AVX2 + FMA attention for up to four query heads of one KV head: 8-wide dot products four keys
// at a time, a vectorised exp for the softmax, and the weighted sums of V kept in registers.
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "libinfer/kernels/cpu/attention_internal.h"
#include "libinfer/kernels/cpu/exp_avx2.h"

namespace infer::kernels::cpu {
namespace {

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Eight K or V elements as floats: F32 loaded, F16 widened (exactly).
inline __m256 Load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 Load8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

}  // namespace

namespace {

// out[g][d0, d0 + 8 R) = vinv[g] * sum_j p[g][j] * v_j[d0, d0 + 8 R) for the G heads, keys in
// order, the 8 R dims of each head in registers across all runs.
template <int G, int R, class T>
void WeightedValues(const KvRows& rows, const float* scores, const __m256* vinv, int64_t d0,
                    float* out) {
  const int64_t head_dim = rows.head_dim;
  const int64_t count = rows.count;
  __m256 acc[G][R];
  for (int g = 0; g < G; ++g) {
    for (int r = 0; r < R; ++r) acc[g][r] = _mm256_setzero_ps();
  }
  ForEachKvRun<T>(rows, [&](const T*, const T* v, int64_t j0, int64_t n) {
    for (int64_t jj = 0; jj < n; ++jj) {
      const T* vr = v + jj * head_dim + d0;
      __m256 vv[R];
      for (int r = 0; r < R; ++r) vv[r] = Load8(vr + 8 * r);
      for (int g = 0; g < G; ++g) {
        const __m256 p = _mm256_set1_ps(scores[g * count + j0 + jj]);
        for (int r = 0; r < R; ++r) acc[g][r] = _mm256_fmadd_ps(p, vv[r], acc[g][r]);
      }
    }
  });
  for (int g = 0; g < G; ++g) {
    for (int r = 0; r < R; ++r) {
      _mm256_storeu_ps(out + g * head_dim + d0 + 8 * r, _mm256_mul_ps(acc[g][r], vinv[g]));
    }
  }
}

// G query heads (q + g * head_dim) that share one KV head: each head's arithmetic is the single
// head's (the same fused multiply-adds in the same order), but each K and V row is read once for
// the G heads and the heads' independent chains keep more multiply-adds in flight.
template <int G, class T>
void AttendHeads(const float* q, const KvRows& rows, float scale, float softcap, float* scores,
                 float* out) {
  const int64_t head_dim = rows.head_dim;
  const int64_t count = rows.count;
  // Scores, four keys per pass so each q chunk is loaded once per four rows. A run's last one to
  // three keys go through the same four-key code (the missing keys repeat the last one, their
  // scores dropped), so a key's score is the same bits wherever its run starts.
  __m128 vmax4[G];
  for (int g = 0; g < G; ++g) vmax4[g] = _mm_set1_ps(-INFINITY);
  ForEachKvRun<T>(rows, [&](const T* k, const T*, int64_t j0, int64_t n) {
    for (int64_t j = 0; j < n; j += 4) {
      const T* kr[4];
      for (int t = 0; t < 4; ++t) kr[t] = k + std::min<int64_t>(j + t, n - 1) * head_dim;
      __m256 a[G][4];
      for (int g = 0; g < G; ++g) {
        for (int t = 0; t < 4; ++t) a[g][t] = _mm256_setzero_ps();
      }
      // The heads' q chunks and one key's chunk at a time in registers (3 + 12 + 1 of the 16
      // for three heads), the accumulators never spilled.
      for (int64_t i = 0; i < head_dim; i += 8) {
        __m256 qv[G];
        for (int g = 0; g < G; ++g) qv[g] = _mm256_loadu_ps(q + g * head_dim + i);
        for (int t = 0; t < 4; ++t) {
          const __m256 kv = Load8(kr[t] + i);
          for (int g = 0; g < G; ++g) a[g][t] = _mm256_fmadd_ps(qv[g], kv, a[g][t]);
        }
      }
      for (int g = 0; g < G; ++g) {
        // Four horizontal sums at once: hadd pairs, then fold the 128-bit halves.
        const __m256 h =
            _mm256_hadd_ps(_mm256_hadd_ps(a[g][0], a[g][1]), _mm256_hadd_ps(a[g][2], a[g][3]));
        const __m128 s4 = _mm_mul_ps(
            _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)), _mm_set1_ps(scale));
        float* sg = scores + g * count + j0 + j;
        if (j + 4 <= n) {
          _mm_storeu_ps(sg, s4);
          vmax4[g] = _mm_max_ps(vmax4[g], s4);
        } else {
          alignas(16) float tmp[4];
          _mm_store_ps(tmp, s4);
          for (int64_t t = 0; j + t < n; ++t) {
            sg[t] = tmp[t];
            vmax4[g] = _mm_max_ps(vmax4[g], _mm_set1_ps(tmp[t]));
          }
        }
      }
    }
  });

  // Softmax numerators and their sums, per head (scores are contiguous whatever the blocks).
  __m256 vinv[G];
  for (int g = 0; g < G; ++g) {
    float* sg = scores + g * count;
    __m128 m4 = _mm_max_ps(vmax4[g], _mm_movehl_ps(vmax4[g], vmax4[g]));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float max = softcap > 0 ? SoftCapScores(sg, count, softcap) : _mm_cvtss_f32(m4);
    const __m256 vmax = _mm256_set1_ps(max);
    __m256 vsum = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= count; j += 8) {
      const __m256 e = ExpNonPositive(_mm256_sub_ps(_mm256_loadu_ps(sg + j), vmax));
      _mm256_storeu_ps(sg + j, e);
      vsum = _mm256_add_ps(vsum, e);
    }
    float sum = HorizontalSum(vsum);
    for (; j < count; ++j) {
      sg[j] = std::exp(sg[j] - max);
      sum += sg[j];
    }
    vinv[g] = _mm256_set1_ps(1.0f / sum);
  }

  // Weighted sums of V, a few registers of dims per head held across all runs (each output
  // element accumulates its keys in order, whatever the width of the pass).
  constexpr int kRegs = G <= 3 ? 4 : 2;  // G * kRegs accumulators stay in the 16 registers
  int64_t d0 = 0;
  for (; d0 + 8 * kRegs <= head_dim; d0 += 8 * kRegs) {
    WeightedValues<G, kRegs, T>(rows, scores, vinv, d0, out);
  }
  switch ((head_dim - d0) / 8) {  // head_dim % 8 == 0
    case 3:
      return WeightedValues<G, 3, T>(rows, scores, vinv, d0, out);
    case 2:
      return WeightedValues<G, 2, T>(rows, scores, vinv, d0, out);
    case 1:
      return WeightedValues<G, 1, T>(rows, scores, vinv, d0, out);
    default:
      return;
  }
}

template <class T>
void AttendHeadsOf(const float* q, int64_t heads, const KvRows& rows, float scale, float softcap,
                   float* scores, float* out) {
  switch (heads) {
    case 1:
      return AttendHeads<1, T>(q, rows, scale, softcap, scores, out);
    case 2:
      return AttendHeads<2, T>(q, rows, scale, softcap, scores, out);
    case 3:
      return AttendHeads<3, T>(q, rows, scale, softcap, scores, out);
    default:
      return AttendHeads<4, T>(q, rows, scale, softcap, scores, out);
  }
}

}  // namespace

void AttendHeadsAvx2(const float* q, int64_t heads, const KvRows& rows, float scale, float softcap,
                     float* scores, float* out) {
  if (rows.f16) return AttendHeadsOf<uint16_t>(q, heads, rows, scale, softcap, scores, out);
  AttendHeadsOf<float>(q, heads, rows, scale, softcap, scores, out);
}

}  // namespace infer::kernels::cpu
