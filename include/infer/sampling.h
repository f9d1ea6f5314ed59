// libinfer — sampling parameters and per-token results.
#ifndef INFER_SAMPLING_H_
#define INFER_SAMPLING_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "infer/grammar.h"
#include "infer/tokenizer.h"

namespace infer {

// How the next token is chosen from the logits. The defaults give plain sampling at
// temperature 1; temperature 0 means greedy (argmax). Filters apply in the order
// penalties -> temperature -> top-k -> top-p -> min-p, as vLLM applies them.
struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy; otherwise logits are divided by it. Must be >= 0.
  int32_t top_k = 0;         // keep the k most likely tokens; 0 or -1: no limit
  float top_p = 1.0f;        // keep the smallest set whose probability >= top_p; (0, 1]
  float min_p = 0.0f;        // drop tokens whose probability < min_p * max probability; [0, 1]
  float repetition_penalty = 1.0f;  // > 0; CTRL-style: divide positive / multiply negative logits
                                    // of tokens seen in the prompt or output; 1: off
  float presence_penalty = 0.0f;    // [-2, 2]; subtracted once from tokens seen in the output
  float frequency_penalty = 0.0f;   // [-2, 2]; subtracted per occurrence in the output
  std::optional<uint64_t> seed;     // same seed + same inputs -> same tokens; unset: random
  int32_t max_tokens = 256;         // generated tokens at most (>= 0)
  bool ignore_eos = false;          // keep generating past end-of-generation tokens
  std::vector<TokenId> stop_token_ids;  // extra tokens that end the generation
  int32_t logprobs = -1;                // -1: none; >= 0: log-probability of the chosen token plus
                                        // this many top alternatives (at most 20)
  // Added to the logits of these tokens before anything else (OpenAI's logit_bias; -100 bans
  // a token, 100 all but forces it). Log-probabilities stay the model's own.
  std::vector<std::pair<TokenId, float>> logit_bias;
  // Constrained decoding: only tokens that keep the output inside the grammar are sampled
  // (the mask applies after penalties, before temperature and the filters; log-probabilities
  // stay the model's own). End-of-generation tokens are allowed where the grammar may end, and
  // the request ends (kStop) as soon as nothing may follow. Null: unconstrained.
  std::shared_ptr<const Grammar> grammar;
};

// One candidate and its log-probability: natural log of the model's own distribution
// (log-softmax of the raw logits, before penalties, temperature and filters, as OpenAI reports).
struct TokenLogprob {
  TokenId id = -1;
  float logprob = 0.0f;
};

// What the sampler chose at one position.
struct SampledToken {
  TokenId id = -1;
  float logprob = 0.0f;           // filled when SamplingParams::logprobs >= 0
  std::vector<TokenLogprob> top;  // the top `logprobs` alternatives, most likely first
};

}  // namespace infer

#endif  // INFER_SAMPLING_H_
