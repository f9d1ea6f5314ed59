#include "libinfer/kernels/cpu/attention.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "libinfer/kernels/cpu/attention_internal.h"
#include "libinfer/util/cpu_features.h"

namespace infer::kernels::cpu {
namespace {

struct Case {
  int64_t heads, kv_heads, head_dim, tokens, start, window;
};

// Causal GQA attention from its definition, in double.
std::vector<double> Reference(const AttentionShape& s, const std::vector<float>& q,
                              const std::vector<float>& k, const std::vector<float>& v,
                              int64_t tokens, int64_t start) {
  std::vector<double> out(static_cast<size_t>(tokens * s.num_heads * s.head_dim));
  const int64_t group = s.num_heads / s.num_kv_heads;
  for (int64_t t = 0; t < tokens; ++t) {
    const int64_t pos = start + t;
    const int64_t first =
        s.sliding_window > 0 ? std::max<int64_t>(0, pos - s.sliding_window + 1) : 0;
    for (int64_t h = 0; h < s.num_heads; ++h) {
      const float* qh = &q[(t * s.num_heads + h) * s.head_dim];
      const int64_t kv = h / group;
      std::vector<double> w;
      double max = -1e300;
      for (int64_t j = first; j <= pos; ++j) {
        double dot = 0;
        for (int64_t i = 0; i < s.head_dim; ++i) {
          dot += double(qh[i]) * k[(kv * s.cache_stride + j) * s.head_dim + i];
        }
        w.push_back(dot * s.scale);
        max = std::max(max, w.back());
      }
      double sum = 0;
      for (double& x : w) sum += (x = std::exp(x - max));
      for (int64_t i = 0; i < s.head_dim; ++i) {
        double acc = 0;
        for (int64_t j = first; j <= pos; ++j) {
          acc += w[j - first] / sum * v[(kv * s.cache_stride + j) * s.head_dim + i];
        }
        out[(t * s.num_heads + h) * s.head_dim + i] = acc;
      }
    }
  }
  return out;
}

class AttentionTest : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionTest, MatchesDoubleReference) {
  const Case c = GetParam();
  AttentionShape s;
  s.num_heads = c.heads;
  s.num_kv_heads = c.kv_heads;
  s.head_dim = c.head_dim;
  s.cache_stride = c.start + c.tokens + 3;
  s.sliding_window = c.window;
  s.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  std::mt19937 rng(c.heads * 131 + c.tokens);
  std::normal_distribution<float> dist(0.f, 1.5f);
  std::vector<float> q(c.tokens * c.heads * c.head_dim),
      k(c.kv_heads * s.cache_stride * c.head_dim), v(k.size());
  for (float& x : q) x = dist(rng);
  for (float& x : k) x = dist(rng);
  for (float& x : v) x = dist(rng);
  const std::vector<double> want = Reference(s, q, k, v, c.tokens, c.start);
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<float> out(q.size(), -1.f);
    Attention(s, q.data(), k.data(), v.data(), c.tokens, c.start, out.data(), &pool);
    for (size_t i = 0; i < out.size(); ++i) {
      ASSERT_NEAR(out[i], want[i], 2e-5 * (1 + std::fabs(want[i]))) << "index " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionTest,
                         ::testing::Values(Case{4, 2, 16, 5, 0, 0}, Case{9, 3, 64, 7, 30, 0},
                                           Case{8, 8, 128, 3, 100, 0}, Case{4, 1, 64, 9, 20, 6},
                                           Case{2, 2, 12, 4, 3, 0}, Case{6, 2, 80, 1, 513, 0}));

#if defined(__x86_64__)
// Each row kernel against the portable one, on rows long enough for every vector path.
TEST(AttendRowTest, Avx2MatchesPortable) {
  if (!GetCpuFeatures().avx2) GTEST_SKIP() << "no AVX2 on this CPU";
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.f, 3.f);
  for (int64_t count : {1, 3, 4, 9, 64, 77}) {
    for (int64_t dim : {8, 64, 96, 128, 256}) {
      std::vector<float> q(dim), k(count * dim), v(count * dim);
      for (float& x : q) x = dist(rng);
      for (float& x : k) x = dist(rng);
      for (float& x : v) x = dist(rng);
      std::vector<float> s1(count), s2(count), o1(dim), o2(dim);
      AttendRowPortable(q.data(), k.data(), v.data(), count, dim, 0.125f, s1.data(), o1.data());
      AttendRowAvx2(q.data(), k.data(), v.data(), count, dim, 0.125f, s2.data(), o2.data());
      for (int64_t i = 0; i < dim; ++i) {
        // Both sum in float in different orders: a score's rounding error grows with
        // head_dim * |q||k| (~1e-4 here at dim 256) and moves the softmax weights by as much.
        ASSERT_NEAR(o1[i], o2[i], 1e-4 * (1 + std::fabs(o1[i]))) << count << "x" << dim;
      }
    }
  }
}

#endif  // defined(__x86_64__)

}  // namespace
}  // namespace infer::kernels::cpu
