// Attention on the CPU, one (token, KV head) pair at a time with the query heads that share it.
//
// Scores for a query row are computed against every visible key, soft-maxed and used to weight
// the values; with head_dim 64-128 and a few thousand positions the working set of one pair
// (K and V rows of one KV head) stays in L2, so a straightforward two-pass loop is memory-bound
// on the cache reads, which is what we want, and taking the query heads of a KV head together
// (GQA: 3 to 8 of them) reads those rows once for all of them. The kernel has a portable and an
// AVX2 version (attention_avx2.cc), chosen at run time.
#include "libinfer/kernels/cpu/attention.h"

#include "libinfer/kernels/cpu/attention_internal.h"
#include "libinfer/util/cpu_features.h"
#include "libinfer/util/fp16.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace infer::kernels::cpu {

namespace {

inline float ToFloat(float x) { return x; }
inline float ToFloat(uint16_t h) { return Fp16ToFp32(h); }

template <class T>
void AttendRowPortable(const float* q, const KvRows& rows, float scale, float softcap,
                       float* scores, float* out) {
  const int64_t head_dim = rows.head_dim;
  float max = -INFINITY;
  ForEachKvRun<T>(rows, [&](const T* k, const T*, int64_t j0, int64_t n) {
    for (int64_t j = 0; j < n; ++j) {
      const T* kj = k + j * head_dim;
      float dot = 0;
      for (int64_t i = 0; i < head_dim; ++i) dot += q[i] * ToFloat(kj[i]);
      scores[j0 + j] = dot * scale;
      max = std::max(max, scores[j0 + j]);
    }
  });
  if (softcap > 0) max = SoftCapScores(scores, rows.count, softcap);
  float sum = 0;
  for (int64_t j = 0; j < rows.count; ++j) {
    scores[j] = std::exp(scores[j] - max);
    sum += scores[j];
  }
  const float inv = 1.0f / sum;
  std::fill(out, out + head_dim, 0.0f);
  ForEachKvRun<T>(rows, [&](const T*, const T* v, int64_t j0, int64_t n) {
    for (int64_t j = 0; j < n; ++j) {
      const float p = scores[j0 + j] * inv;
      const T* vj = v + j * head_dim;
      for (int64_t i = 0; i < head_dim; ++i) out[i] += p * ToFloat(vj[i]);
    }
  });
}

}  // namespace

void AttendHeadsPortable(const float* q, int64_t heads, const KvRows& rows, float scale,
                         float softcap, float* scores, float* out) {
  for (int64_t g = 0; g < heads; ++g) {
    if (rows.f16) {
      AttendRowPortable<uint16_t>(q + g * rows.head_dim, rows, scale, softcap, scores,
                                  out + g * rows.head_dim);
    } else {
      AttendRowPortable<float>(q + g * rows.head_dim, rows, scale, softcap, scores,
                               out + g * rows.head_dim);
    }
  }
}

namespace {

AttendHeadsFn SelectAttendHeads(int64_t head_dim) {
#if defined(INFER_KERNELS_X86)
  if (GetCpuFeatures().avx2 && head_dim % 8 == 0) return AttendHeadsAvx2;
#endif
  return AttendHeadsPortable;
}

}  // namespace

void PagedAttention(const AttentionShape& s, const float* q, const void* k, const void* v,
                    std::span<const AttentionQuery> queries, float* out, ThreadPool* pool) {
  const int64_t group = s.num_heads / s.num_kv_heads;
  const int64_t num_rows = static_cast<int64_t>(queries.size());
  // Work units: (row, KV head, slice of that KV head's query heads), at most kMaxAttendHeads
  // heads per slice, the slices as even as they can be.
  const int64_t slices = (group + kMaxAttendHeads - 1) / kMaxAttendHeads;
  const int64_t per_row = s.num_kv_heads * slices;
  const int64_t units = num_rows * per_row;
  if (units == 0) return;
  const AttendHeadsFn attend = SelectAttendHeads(s.head_dim);
  int64_t longest = 0;
  for (const AttentionQuery& query : queries) longest = std::max(longest, query.position + 1);
  // Chunks of units go to whichever threads come for them (under the causal mask later
  // positions cost more; a preempted thread holds up only the chunk it took).
  auto run = [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(longest * std::min(group, kMaxAttendHeads)));
    for (int64_t u = begin; u < end; ++u) {
      const int64_t t = u / per_row;
      const int64_t kv_head = (u % per_row) / slices;
      const int64_t slice = u % slices;
      const int64_t h0 = kv_head * group + slice * group / slices;
      const int64_t h1 = kv_head * group + (slice + 1) * group / slices;
      const AttentionQuery& query = queries[t];
      KvRows rows;
      rows.k = k;
      rows.v = v;
      rows.f16 = s.kv_f16;
      rows.block_table = query.block_table;
      rows.block_floats = s.block_floats();
      rows.head_offset = s.row_offset(kv_head, 0);
      rows.block_size = s.block_size;
      rows.head_dim = s.head_dim;
      rows.first =
          s.sliding_window > 0 ? std::max<int64_t>(0, query.position - s.sliding_window + 1) : 0;
      rows.count = query.position - rows.first + 1;
      const int64_t offset = (t * s.num_heads + h0) * s.head_dim;
      attend(q + offset, h1 - h0, rows, s.scale, s.softcap, scores.data(), out + offset);
    }
  };
  if (pool == nullptr || units == 1) {
    run(0, units);
  } else {
    pool->ParallelFor(units, 1, run);
  }
}

}  // namespace infer::kernels::cpu
