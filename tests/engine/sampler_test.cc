#include "libinfer/engine/sampler.h"

#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "infer/model.h"

namespace infer {
namespace {

std::vector<float> Logits() { return {1.0f, 3.0f, 2.0f, -1.0f, 2.5f, 0.0f}; }

std::map<int32_t, int> Histogram(SamplingParams p, int draws) {
  p.seed = 7;
  Sampler sampler(p, 6, {});
  std::map<int32_t, int> counts;
  for (int i = 0; i < draws; ++i) {
    // A fresh sampler state per draw would reuse the seed; one sampler gives a stream. Penalties
    // are off in these tests, so history does not change the distribution.
    std::vector<float> l = Logits();
    ++counts[sampler.Sample(l).id];
  }
  return counts;
}

TEST(SamplerTest, GreedyPicksArgmax) {
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p, 6, {});
  std::vector<float> l = Logits();
  EXPECT_EQ(s.Sample(l).id, 1);
}

TEST(SamplerTest, TopKOneIsGreedy) {
  SamplingParams p;
  p.top_k = 1;
  auto h = Histogram(p, 200);
  EXPECT_EQ(h.size(), 1u);
  EXPECT_EQ(h[1], 200);
}

TEST(SamplerTest, FrequenciesFollowSoftmax) {
  SamplingParams p;
  const int draws = 40000;
  auto h = Histogram(p, draws);
  std::vector<float> l = Logits();
  double z = 0;
  for (float v : l) z += std::exp(v);
  for (int i = 0; i < 6; ++i) {
    const double expected = std::exp(l[i]) / z;
    EXPECT_NEAR(h[i] / static_cast<double>(draws), expected, 0.01) << "token " << i;
  }
}

TEST(SamplerTest, TopPKeepsTheNucleusOnly) {
  // Probabilities: token1 .459, token4 .279, token2 .169, token0 .062, token5 .023, token3 .008.
  // The nucleus is the smallest most-likely-first prefix whose mass reaches top_p.
  SamplingParams p;
  p.top_p = 0.7f;  // .459 + .279 = .738
  auto h = Histogram(p, 5000);
  EXPECT_EQ(h.size(), 2u);
  EXPECT_GT(h[1], h[4]);
  p.top_p = 0.8f;  // needs token 2 too: .907
  h = Histogram(p, 5000);
  for (const auto& [id, n] : h) EXPECT_TRUE(id == 1 || id == 4 || id == 2) << id;
  EXPECT_EQ(h.size(), 3u);
}

TEST(SamplerTest, MinPDropsUnlikelyTokens) {
  SamplingParams p;
  p.min_p = 0.5f;  // keep tokens with p >= 0.5 * p(token1): exp(2.5-3) = .61 yes, exp(-1) = .37 no
  auto h = Histogram(p, 3000);
  EXPECT_EQ(h.size(), 2u);
  EXPECT_GT(h[1], 0);
  EXPECT_GT(h[4], 0);
}

TEST(SamplerTest, SameSeedSameTokens) {
  SamplingParams p;
  p.seed = 99;
  SamplingParams q = p;
  q.seed = 100;
  Sampler a(p, 6, {}), b(p, 6, {}), c(q, 6, {});
  std::vector<int32_t> ids_a, ids_b, ids_c;
  for (int i = 0; i < 100; ++i) {
    std::vector<float> la = Logits(), lb = Logits(), lc = Logits();
    ids_a.push_back(a.Sample(la).id);
    ids_b.push_back(b.Sample(lb).id);
    ids_c.push_back(c.Sample(lc).id);
  }
  EXPECT_EQ(ids_a, ids_b);
  // Another seed, other draws: 100 draws over four likely tokens cannot all agree by chance.
  EXPECT_NE(ids_a, ids_c);
  // And the draws are draws: more than one token comes out.
  EXPECT_GT(std::set<int32_t>(ids_a.begin(), ids_a.end()).size(), 1u);
}

TEST(SamplerTest, PenaltiesFollowTheirDefinitions) {
  SamplingParams p;
  p.temperature = 0;
  p.repetition_penalty = 2.0f;
  const int32_t prompt[] = {1};
  Sampler s(p, 6, prompt);
  std::vector<float> l = Logits();
  // Token 1's logit 3 becomes 1.5 < 2.5 (token 4).
  EXPECT_EQ(s.Sample(l).id, 4);
  EXPECT_FLOAT_EQ(l[1], 1.5f);

  SamplingParams q;
  q.temperature = 0;
  q.presence_penalty = 0.4f;
  q.frequency_penalty = 0.3f;
  Sampler t(q, 6, {});
  std::vector<float> l1 = Logits();
  EXPECT_EQ(t.Sample(l1).id, 1);  // no output yet: plain argmax
  std::vector<float> l2 = Logits();
  EXPECT_EQ(t.Sample(l2).id, 4);  // token 1: 3 - 0.4 - 0.3 * 1 = 2.3 < 2.5 (token 4)
  EXPECT_FLOAT_EQ(l2[1], 2.3f);
}

TEST(SamplerTest, LogprobsAreLogSoftmaxOfRawLogits) {
  SamplingParams p;
  p.temperature = 0;
  p.logprobs = 2;
  p.repetition_penalty = 1.5f;  // must not change the reported log-probabilities
  const int32_t prompt[] = {1};
  Sampler s(p, 6, prompt);
  std::vector<float> l = Logits();
  SampledToken t = s.Sample(l);
  const std::vector<float> raw = Logits();
  double z = 0;
  for (float v : raw) z += std::exp(v);
  ASSERT_EQ(t.top.size(), 2u);
  EXPECT_EQ(t.top[0].id, 1);
  EXPECT_EQ(t.top[1].id, 4);
  EXPECT_NEAR(t.top[0].logprob, 3.0 - std::log(z), 1e-5);
  EXPECT_NEAR(t.logprob, raw[t.id] - std::log(z), 1e-5);
}

TEST(ValidateSamplingParamsTest, NamesTheField) {
  SamplingParams p;
  p.top_p = 0;
  auto s = ValidateSamplingParams(p, 10);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("top_p"), std::string::npos);
  p = {};
  p.temperature = -1;
  EXPECT_NE(std::string(ValidateSamplingParams(p, 10).message()).find("temperature"),
            std::string::npos);
  p = {};
  p.stop_token_ids = {10};
  EXPECT_FALSE(ValidateSamplingParams(p, 10).ok());
  EXPECT_TRUE(ValidateSamplingParams(SamplingParams{}, 10).ok());
}

}  // namespace
}  // namespace infer
