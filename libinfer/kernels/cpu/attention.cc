// Attention on the CPU, one (token, head) pair at a time.
//
// Scores for a query row are computed against every visible key, soft-maxed and used to weight
// the values; with head_dim 64-128 and a few thousand positions the working set of one pair
// (K and V rows of one KV head) stays in L2, so a straightforward two-pass loop is memory-bound
// on the cache reads, which is what we want. The row kernel has a portable and an AVX2 version
// (attention_avx2.cc), chosen at run time.
#include "libinfer/kernels/cpu/attention.h"

#include "libinfer/kernels/cpu/attention_internal.h"
#include "libinfer/util/cpu_features.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace infer::kernels::cpu {

void AttendRowPortable(const float* q, const float* k, const float* v, int64_t count,
                       int64_t head_dim, float scale, float* scores, float* out) {
  float max = -INFINITY;
  for (int64_t j = 0; j < count; ++j) {
    const float* kj = k + j * head_dim;
    float dot = 0;
    for (int64_t i = 0; i < head_dim; ++i) dot += q[i] * kj[i];
    scores[j] = dot * scale;
    max = std::max(max, scores[j]);
  }
  float sum = 0;
  for (int64_t j = 0; j < count; ++j) {
    scores[j] = std::exp(scores[j] - max);
    sum += scores[j];
  }
  const float inv = 1.0f / sum;
  std::fill(out, out + head_dim, 0.0f);
  for (int64_t j = 0; j < count; ++j) {
    const float p = scores[j] * inv;
    const float* vj = v + j * head_dim;
    for (int64_t i = 0; i < head_dim; ++i) out[i] += p * vj[i];
  }
}

namespace {

AttendRowFn SelectAttendRow(int64_t head_dim) {
#if defined(INFER_KERNELS_X86)
  if (GetCpuFeatures().avx2 && head_dim % 8 == 0) return AttendRowAvx2;
#endif
  return AttendRowPortable;
}

}  // namespace

void Attention(const AttentionShape& s, const float* q, const float* k, const float* v,
               int64_t num_tokens, int64_t start_pos, float* out, ThreadPool* pool) {
  const int64_t group = s.num_heads / s.num_kv_heads;
  const int64_t pairs = num_tokens * s.num_heads;
  const AttendRowFn attend = SelectAttendRow(s.head_dim);
  // Pairs are dealt round-robin: under the causal mask later tokens cost more, and striding
  // gives every thread the same mix.
  auto run = [&](int index, int count) {
    std::vector<float> scores(static_cast<size_t>(start_pos + num_tokens));
    for (int64_t p = index; p < pairs; p += count) {
      const int64_t t = p / s.num_heads;
      const int64_t h = p % s.num_heads;
      const int64_t kv = h / group;
      const int64_t offset = (t * s.num_heads + h) * s.head_dim;
      const int64_t pos = start_pos + t;
      const int64_t first =
          s.sliding_window > 0 ? std::max<int64_t>(0, pos - s.sliding_window + 1) : 0;
      const int64_t base = (kv * s.cache_stride + first) * s.head_dim;
      attend(q + offset, k + base, v + base, pos - first + 1, s.head_dim, s.scale, scores.data(),
             out + offset);
    }
  };
  if (pool == nullptr || pairs == 1) {
    run(0, 1);
  } else {
    pool->Run(run);
  }
}

}  // namespace infer::kernels::cpu
