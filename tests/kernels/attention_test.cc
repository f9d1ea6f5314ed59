#include "libinfer/kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "libinfer/kernels/cpu/attention_internal.h"
#include "libinfer/util/cpu_features.h"
#include "libinfer/util/fp16.h"

namespace infer::kernels::cpu {
namespace {

struct Case {
  int64_t heads, kv_heads, head_dim, tokens, start, window, block_size;
  float softcap = 0;
};

// A paged cache holding one or more sequences' K/V, positions placed in shuffled blocks.
struct PagedCache {
  AttentionShape shape;
  std::vector<float> k, v;                           // [num_blocks][kv_heads][block_size][head_dim]
  std::vector<std::vector<int32_t>> tables;          // per sequence
  std::vector<std::vector<float>> dense_k, dense_v;  // per sequence, [kv_heads][len][head_dim]

  // Sequences of the given lengths; their blocks are a random permutation of the pool.
  PagedCache(const AttentionShape& s, const std::vector<int64_t>& lengths, std::mt19937& rng)
      : shape(s) {
    int64_t total_blocks = 0;
    for (int64_t len : lengths) total_blocks += (len + s.block_size - 1) / s.block_size;
    total_blocks += 3;  // unused blocks, filled with garbage
    std::vector<int32_t> ids(static_cast<size_t>(total_blocks));
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    k.assign(static_cast<size_t>(total_blocks * s.block_floats()), 1e6f);
    v = k;
    std::normal_distribution<float> dist(0.f, 1.5f);
    size_t next = 0;
    for (int64_t len : lengths) {
      std::vector<int32_t> table;
      for (int64_t b = 0; b < (len + s.block_size - 1) / s.block_size; ++b) {
        table.push_back(ids[next++]);
      }
      std::vector<float> dk(static_cast<size_t>(s.num_kv_heads * len * s.head_dim));
      std::vector<float> dv(dk.size());
      for (int64_t h = 0; h < s.num_kv_heads; ++h) {
        for (int64_t p = 0; p < len; ++p) {
          const int64_t at = table[p / s.block_size] * s.block_floats() + s.row_offset(h, p);
          for (int64_t i = 0; i < s.head_dim; ++i) {
            const size_t d = static_cast<size_t>((h * len + p) * s.head_dim + i);
            k[at + i] = dk[d] = dist(rng);
            v[at + i] = dv[d] = dist(rng);
          }
        }
      }
      tables.push_back(std::move(table));
      dense_k.push_back(std::move(dk));
      dense_v.push_back(std::move(dv));
    }
  }
};

// Causal GQA attention from its definition, in double, for one query row of sequence `seq`.
std::vector<double> Reference(const PagedCache& c, size_t seq, int64_t pos, const float* q) {
  const AttentionShape& s = c.shape;
  const int64_t len = static_cast<int64_t>(c.dense_k[seq].size()) / s.num_kv_heads / s.head_dim;
  std::vector<double> out(static_cast<size_t>(s.num_heads * s.head_dim));
  const int64_t group = s.num_heads / s.num_kv_heads;
  const int64_t first = s.sliding_window > 0 ? std::max<int64_t>(0, pos - s.sliding_window + 1) : 0;
  for (int64_t h = 0; h < s.num_heads; ++h) {
    const float* qh = q + h * s.head_dim;
    const int64_t kv = h / group;
    std::vector<double> w;
    double max = -1e300;
    for (int64_t j = first; j <= pos; ++j) {
      double dot = 0;
      for (int64_t i = 0; i < s.head_dim; ++i) {
        dot += double(qh[i]) * c.dense_k[seq][(kv * len + j) * s.head_dim + i];
      }
      double score = dot * s.scale;
      if (s.softcap > 0) score = s.softcap * std::tanh(score / s.softcap);
      w.push_back(score);
      max = std::max(max, w.back());
    }
    double sum = 0;
    for (double& x : w) sum += (x = std::exp(x - max));
    for (int64_t i = 0; i < s.head_dim; ++i) {
      double acc = 0;
      for (int64_t j = first; j <= pos; ++j) {
        acc += w[j - first] / sum * c.dense_v[seq][(kv * len + j) * s.head_dim + i];
      }
      out[h * s.head_dim + i] = acc;
    }
  }
  return out;
}

AttentionShape ShapeOf(const Case& c) {
  AttentionShape s;
  s.num_heads = c.heads;
  s.num_kv_heads = c.kv_heads;
  s.head_dim = c.head_dim;
  s.block_size = c.block_size;
  s.sliding_window = c.window;
  s.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  s.softcap = c.softcap;
  return s;
}

class AttentionTest : public ::testing::TestWithParam<Case> {};

// A batch of two sequences: a prefill chunk of `tokens` rows of the first at positions
// [start, start + tokens) and one decode row of a second, shorter one.
TEST_P(AttentionTest, MatchesDoubleReference) {
  const Case c = GetParam();
  const AttentionShape s = ShapeOf(c);
  std::mt19937 rng(static_cast<uint32_t>(c.heads * 131 + c.tokens + c.block_size));
  const int64_t other_len = c.start / 2 + 1;
  PagedCache cache(s, {c.start + c.tokens, other_len}, rng);
  std::vector<AttentionQuery> queries;
  for (int64_t t = 0; t < c.tokens; ++t) queries.push_back({c.start + t, cache.tables[0].data()});
  queries.push_back({other_len - 1, cache.tables[1].data()});
  const int64_t row = s.num_heads * s.head_dim;
  std::vector<float> q(queries.size() * row);
  std::normal_distribution<float> dist(0.f, 1.5f);
  for (float& x : q) x = dist(rng);
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<float> out(q.size(), -1.f);
    PagedAttention(s, q.data(), cache.k.data(), cache.v.data(), queries, out.data(), &pool);
    for (size_t t = 0; t < queries.size(); ++t) {
      const size_t seq = t + 1 == queries.size() ? 1 : 0;
      const std::vector<double> want = Reference(cache, seq, queries[t].position, &q[t * row]);
      for (int64_t i = 0; i < row; ++i) {
        ASSERT_NEAR(out[t * row + i], want[i], 2e-5 * (1 + std::fabs(want[i])))
            << "row " << t << " index " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionTest,
    ::testing::Values(Case{4, 2, 16, 5, 0, 0, 16}, Case{9, 3, 64, 7, 30, 0, 16},
                      Case{8, 8, 128, 3, 100, 0, 16}, Case{4, 1, 64, 9, 20, 6, 16},
                      Case{2, 2, 12, 4, 3, 0, 16}, Case{6, 2, 80, 1, 513, 0, 16},
                      Case{9, 3, 64, 11, 40, 0, 5}, Case{4, 2, 16, 3, 9, 0, 1},
                      Case{4, 2, 32, 6, 50, 17, 7},
                      // Groups larger than one kernel call takes (7 and 8 query heads per KV head)
                      Case{14, 2, 64, 4, 30, 0, 16}, Case{8, 1, 32, 5, 20, 0, 16},
                      // Gemma 2's soft-capped scores (a cap of 1.5 bends most of them)
                      Case{4, 2, 64, 5, 40, 0, 16, 1.5f}, Case{8, 4, 256, 3, 20, 9, 16, 1.5f}));

// A row's output is the same bits alone or in a batch, and wherever its blocks lie.
TEST(PagedAttentionTest, RowIsIndependentOfBatchAndBlockPlacement) {
  Case c{9, 3, 64, 1, 0, 0, 16};
  const AttentionShape s = ShapeOf(c);
  for (int64_t len : {1, 3, 16, 17, 45, 130}) {
    std::mt19937 rng1(7), rng2(7);
    PagedCache a(s, {len}, rng1);
    // The same contents in other blocks: a differently seeded shuffle of the same values.
    PagedCache b(s, {5, len, 33}, rng2);
    // Copy a's dense values into b's sequence 1.
    for (int64_t h = 0; h < s.num_kv_heads; ++h) {
      for (int64_t p = 0; p < len; ++p) {
        const int64_t at = b.tables[1][p / s.block_size] * s.block_floats() + s.row_offset(h, p);
        const int64_t from = (h * len + p) * s.head_dim;
        std::copy_n(&a.dense_k[0][from], s.head_dim, &b.k[at]);
        std::copy_n(&a.dense_v[0][from], s.head_dim, &b.v[at]);
      }
    }
    const int64_t row = s.num_heads * s.head_dim;
    std::vector<float> q(3 * row);
    std::normal_distribution<float> dist(0.f, 1.5f);
    for (float& x : q) x = dist(rng1);
    const AttentionQuery alone[] = {{len - 1, a.tables[0].data()}};
    std::vector<float> out_alone(row);
    PagedAttention(s, &q[row], a.k.data(), a.v.data(), alone, out_alone.data(), nullptr);
    const AttentionQuery batch[] = {
        {4, b.tables[0].data()}, {len - 1, b.tables[1].data()}, {32, b.tables[2].data()}};
    std::vector<float> out_batch(3 * row);
    ThreadPool pool(2);
    PagedAttention(s, q.data(), b.k.data(), b.v.data(), batch, out_batch.data(), &pool);
    EXPECT_EQ(0, std::memcmp(out_alone.data(), &out_batch[row], row * sizeof(float)))
        << "len " << len;
  }
}

// F16 pools: the F32 pools' result for the same (F16-rounded) values, bit for bit, with the
// kernel the CPU selects and with the portable one, for grouped heads, windows and soft caps.
TEST(PagedAttentionTest, F16PoolsGiveTheF32PoolsBitsForTheSameValues) {
  std::mt19937 rng(21);
  for (const Case& c : {Case{9, 3, 64, 5, 40, 0, 16}, Case{8, 1, 128, 3, 100, 7, 8, 30.f},
                        Case{4, 2, 32, 2, 3, 0, 4}}) {
    AttentionShape s = ShapeOf(c);
    PagedCache cache(s, {c.start + c.tokens}, rng);
    std::vector<uint16_t> k16(cache.k.size()), v16(cache.v.size());
    for (size_t i = 0; i < k16.size(); ++i) {
      k16[i] = Fp32ToFp16(cache.k[i]);
      v16[i] = Fp32ToFp16(cache.v[i]);
      cache.k[i] = Fp16ToFp32(k16[i]);
      cache.v[i] = Fp16ToFp32(v16[i]);
    }
    std::normal_distribution<float> dist(0.f, 1.f);
    std::vector<float> q(static_cast<size_t>(c.tokens * s.num_heads * s.head_dim));
    for (float& x : q) x = dist(rng);
    std::vector<AttentionQuery> queries;
    for (int64_t t = 0; t < c.tokens; ++t) queries.push_back({c.start + t, cache.tables[0].data()});
    ThreadPool pool(2);
    std::vector<float> want(q.size()), got(q.size());
    PagedAttention(s, q.data(), cache.k.data(), cache.v.data(), queries, want.data(), &pool);
    s.kv_f16 = true;
    PagedAttention(s, q.data(), k16.data(), v16.data(), queries, got.data(), &pool);
    EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)))
        << c.heads << " heads, dim " << c.head_dim;
    // The portable kernel on one KV head's rows, F16 against F32.
    KvRows rows;
    rows.k = cache.k.data();
    rows.v = cache.v.data();
    rows.block_table = cache.tables[0].data();
    rows.block_floats = s.block_floats();
    rows.block_size = s.block_size;
    rows.head_dim = s.head_dim;
    rows.count = c.start + 1;
    std::vector<float> scores(static_cast<size_t>(rows.count)), a(s.head_dim), b(s.head_dim);
    AttendHeadsPortable(q.data(), 1, rows, s.scale, s.softcap, scores.data(), a.data());
    rows.k = k16.data();
    rows.v = v16.data();
    rows.f16 = true;
    AttendHeadsPortable(q.data(), 1, rows, s.scale, s.softcap, scores.data(), b.data());
    EXPECT_EQ(a, b);
  }
}

#if defined(__x86_64__)
// Positions [0, count) of the first sequence of `cache` (KV head 0), as the row kernels take them.
KvRows FirstSequenceRows(const PagedCache& cache, int64_t count) {
  KvRows rows;
  rows.k = cache.k.data();
  rows.v = cache.v.data();
  rows.block_table = cache.tables[0].data();
  rows.block_floats = cache.shape.block_floats();
  rows.block_size = cache.shape.block_size;
  rows.head_dim = cache.shape.head_dim;
  rows.count = count;
  return rows;
}

// The AVX2 row kernel against the portable one, on rows long enough for every vector path and
// block sizes that cut runs at every remainder.
TEST(AttendRowTest, Avx2MatchesPortable) {
  if (!GetCpuFeatures().avx2) GTEST_SKIP() << "no AVX2 on this CPU";
  std::mt19937 rng(5);
  for (int64_t count : {1, 3, 4, 9, 64, 77}) {
    for (int64_t dim : {8, 64, 96, 128, 256}) {
      for (int64_t block_size : {1, 3, 16}) {
        Case c{1, 1, dim, 1, 0, 0, block_size};
        const AttentionShape s = ShapeOf(c);
        PagedCache cache(s, {count}, rng);
        std::vector<float> q(dim);
        std::normal_distribution<float> dist(0.f, 3.f);
        for (float& x : q) x = dist(rng);
        const KvRows rows = FirstSequenceRows(cache, count);
        for (float softcap : {0.0f, 2.0f}) {
          std::vector<float> s1(count), s2(count), o1(dim), o2(dim);
          AttendHeadsPortable(q.data(), 1, rows, 0.125f, softcap, s1.data(), o1.data());
          AttendHeadsAvx2(q.data(), 1, rows, 0.125f, softcap, s2.data(), o2.data());
          for (int64_t i = 0; i < dim; ++i) {
            // Both sum in float in different orders: a score's rounding error grows with
            // head_dim * |q||k| (~1e-4 here at dim 256) and moves the softmax weights by as much.
            ASSERT_NEAR(o1[i], o2[i], 1e-4 * (1 + std::fabs(o1[i])))
                << count << "x" << dim << " block " << block_size << " softcap " << softcap;
          }
        }
      }
    }
  }
}

// Query heads taken together give each head the bits it gets alone.
TEST(AttendRowTest, Avx2HeadsTogetherEqualHeadsAlone) {
  if (!GetCpuFeatures().avx2) GTEST_SKIP() << "no AVX2 on this CPU";
  std::mt19937 rng(9);
  for (int64_t heads : {2, 3, 4}) {
    for (int64_t count : {1, 5, 70}) {
      for (int64_t dim : {8, 64, 96}) {
        Case c{1, 1, dim, 1, 0, 0, 16};
        const AttentionShape s = ShapeOf(c);
        PagedCache cache(s, {count}, rng);
        std::vector<float> q(heads * dim);
        std::normal_distribution<float> dist(0.f, 3.f);
        for (float& x : q) x = dist(rng);
        const KvRows rows = FirstSequenceRows(cache, count);
        for (float softcap : {0.0f, 2.0f}) {
          std::vector<float> scores(heads * count), together(heads * dim), alone(heads * dim);
          AttendHeadsAvx2(q.data(), heads, rows, 0.125f, softcap, scores.data(), together.data());
          for (int64_t g = 0; g < heads; ++g) {
            AttendHeadsAvx2(q.data() + g * dim, 1, rows, 0.125f, softcap, scores.data(),
                            alone.data() + g * dim);
          }
          EXPECT_EQ(0, std::memcmp(together.data(), alone.data(), alone.size() * sizeof(float)))
              << heads << " heads, " << count << "x" << dim << " softcap " << softcap;
        }
      }
    }
  }
}
#endif  // defined(__x86_64__)

}  // namespace
}  // namespace infer::kernels::cpu
