// Attention on the CPU, one (token, head) pair at a time.
//
// Scores for a query row are computed against every visible key, soft-maxed and used to weight
// the values; with head_dim 64-128 and a few thousand positions the working set of one pair
// (K and V rows of one KV head) stays in L2, so a straightforward two-pass loop is memory-bound
// on the cache reads, which is what we want. The hot loops are cloned for AVX2 at run time.
#include "libinfer/kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace infer::kernels::cpu {
namespace {

#if defined(__x86_64__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define INFER_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define INFER_CLONES
#endif

INFER_CLONES float Dot(const float* a, const float* b, int64_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

INFER_CLONES void Axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void AttendOne(const AttentionShape& s, const float* q, const float* k, const float* v, int64_t pos,
               float* out, std::vector<float>& scores) {
  const int64_t first = s.sliding_window > 0 ? std::max<int64_t>(0, pos - s.sliding_window + 1) : 0;
  const int64_t count = pos - first + 1;
  scores.resize(static_cast<size_t>(count));
  float max = -INFINITY;
  for (int64_t j = 0; j < count; ++j) {
    const float score = Dot(q, k + (first + j) * s.head_dim, s.head_dim) * s.scale;
    scores[j] = score;
    max = std::max(max, score);
  }
  float sum = 0;
  for (int64_t j = 0; j < count; ++j) {
    scores[j] = std::exp(scores[j] - max);
    sum += scores[j];
  }
  const float inv = 1.0f / sum;
  std::fill(out, out + s.head_dim, 0.0f);
  for (int64_t j = 0; j < count; ++j)
    Axpy(scores[j] * inv, v + (first + j) * s.head_dim, out, s.head_dim);
}

}  // namespace

void Attention(const AttentionShape& s, const float* q, const float* k, const float* v,
               int64_t num_tokens, int64_t start_pos, float* out, ThreadPool* pool) {
  const int64_t group = s.num_heads / s.num_kv_heads;
  const int64_t pairs = num_tokens * s.num_heads;
  // Pairs are dealt round-robin: under the causal mask later tokens cost more, and striding
  // gives every thread the same mix.
  auto run = [&](int index, int count) {
    std::vector<float> scores;
    for (int64_t p = index; p < pairs; p += count) {
      const int64_t t = p / s.num_heads;
      const int64_t h = p % s.num_heads;
      const int64_t kv = h / group;
      const int64_t offset = (t * s.num_heads + h) * s.head_dim;
      AttendOne(s, q + offset, k + kv * s.cache_stride * s.head_dim,
                v + kv * s.cache_stride * s.head_dim, start_pos + t, out + offset, scores);
    }
  };
  if (pool == nullptr || pairs == 1) {
    run(0, 1);
  } else {
    pool->Run(run);
  }
}

}  // namespace infer::kernels::cpu
