// Chooses the next token of one sequence from the model's logits.
#ifndef INFER_ENGINE_SAMPLER_H_
#define INFER_ENGINE_SAMPLER_H_

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "infer/sampling.h"
#include "libinfer/grammar/matcher.h"

namespace infer {

// Holds one sequence's sampling state: the parameters, the random generator (seeded from
// params.seed when set) and the token counts the penalties need. Not thread-safe.
class Sampler {
 public:
  // `params` must have passed ValidateSamplingParams. `prompt` feeds the repetition penalty.
  // `grammar`: the matcher of params.grammar over the model's vocabulary (null: none).
  Sampler(const SamplingParams& params, int64_t vocab_size, std::span<const int32_t> prompt,
          std::unique_ptr<grammar::GrammarMatcher> grammar = nullptr);

  // Picks a token from `logits` (vocab_size values; modified in place) and records it as
  // generated, for the penalties of later steps. With a grammar, only the tokens it allows;
  // when it allows none the result's id is -1 and status() says why.
  SampledToken Sample(std::span<float> logits);

  // Not OK once the grammar could not continue (the request fails with it).
  const absl::Status& status() const { return status_; }
  // The grammar has ended: nothing may follow the sampled tokens.
  bool grammar_finished() const { return grammar_ != nullptr && grammar_->finished(); }

 private:
  void ApplyPenalties(std::span<float> logits) const;
  int32_t SampleFiltered(std::span<const float> logits);

  SamplingParams params_;
  int64_t vocab_size_;
  std::mt19937_64 rng_;
  absl::flat_hash_set<int32_t> prompt_tokens_;
  absl::flat_hash_map<int32_t, int32_t> output_counts_;
  std::vector<std::pair<float, int32_t>> candidates_;  // scratch, reused between steps
  std::unique_ptr<grammar::GrammarMatcher> grammar_;
  absl::Status status_;
};

// Fills `out` with the `n` highest log-probabilities of log_softmax(logits), most likely first,
// and returns the log-probability of `chosen`.
float TopLogprobs(std::span<const float> logits, int32_t chosen, int n,
                  std::vector<TokenLogprob>* out);

}  // namespace infer

#endif  // INFER_ENGINE_SAMPLER_H_
