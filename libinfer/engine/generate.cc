// Model::Generate: the blocking one-request loop (prefill, then sample / decode until a stop).
// The Scheduler will run many of these at once; this is the embedding apps' convenience.
#include <chrono>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "infer/model.h"
#include "libinfer/engine/sampler.h"
#include "libinfer/model/model_impl.h"
#include "libinfer/util/status_macros.h"

namespace infer {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

absl::Status FieldError(const char* field, const std::string& detail) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", detail));
}

}  // namespace

absl::Status ValidateSamplingParams(const SamplingParams& p, int64_t vocab_size) {
  if (!(p.temperature >= 0.0f) || !std::isfinite(p.temperature)) {
    return FieldError("temperature",
                      absl::StrCat("must be a finite number >= 0, got ", p.temperature));
  }
  if (p.top_k < -1)
    return FieldError("top_k", absl::StrCat("must be -1, 0 or positive, got ", p.top_k));
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    return FieldError("top_p", absl::StrCat("must be in (0, 1], got ", p.top_p));
  }
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) {
    return FieldError("min_p", absl::StrCat("must be in [0, 1], got ", p.min_p));
  }
  if (!(p.repetition_penalty > 0.0f) || !std::isfinite(p.repetition_penalty)) {
    return FieldError("repetition_penalty",
                      absl::StrCat("must be > 0, got ", p.repetition_penalty));
  }
  if (!(p.presence_penalty >= -2.0f && p.presence_penalty <= 2.0f)) {
    return FieldError("presence_penalty",
                      absl::StrCat("must be in [-2, 2], got ", p.presence_penalty));
  }
  if (!(p.frequency_penalty >= -2.0f && p.frequency_penalty <= 2.0f)) {
    return FieldError("frequency_penalty",
                      absl::StrCat("must be in [-2, 2], got ", p.frequency_penalty));
  }
  if (p.max_tokens < 0)
    return FieldError("max_tokens", absl::StrCat("must be >= 0, got ", p.max_tokens));
  if (p.logprobs < -1 || p.logprobs > 20) {
    return FieldError("logprobs",
                      absl::StrCat("must be in [0, 20] (or -1 for none), got ", p.logprobs));
  }
  for (TokenId id : p.stop_token_ids) {
    if (id < 0 || id >= vocab_size) {
      return FieldError("stop_token_ids", absl::StrCat("id ", id, " is outside the vocabulary [0, ",
                                                       vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Completion> Model::Generate(std::string_view prompt, const SamplingParams& params,
                                           const TokenCallback& on_token) {
  INFER_ASSIGN_OR_RETURN(std::vector<TokenId> ids, impl_->tokenizer->Encode(prompt));
  return GenerateFromTokens(std::move(ids), params, on_token);
}

absl::StatusOr<Completion> Model::GenerateFromTokens(std::vector<TokenId> prompt_ids,
                                                     const SamplingParams& params,
                                                     const TokenCallback& on_token) {
  const ModelInfo& info = impl_->info;
  INFER_RETURN_IF_ERROR(ValidateSamplingParams(params, info.vocab_size));
  if (prompt_ids.empty()) return absl::InvalidArgumentError("prompt: no tokens");
  const int64_t prompt_len = static_cast<int64_t>(prompt_ids.size());
  if (prompt_len >= info.context_length) {
    return absl::InvalidArgumentError(absl::StrCat("prompt: ", prompt_len,
                                                   " tokens leave no room in the context length ",
                                                   info.context_length));
  }
  for (size_t i = 0; i < prompt_ids.size(); ++i) {
    if (prompt_ids[i] < 0 || prompt_ids[i] >= info.vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("prompt: token id ", prompt_ids[i], " at index ", i,
                       " is outside the vocabulary [0, ", info.vocab_size, ")"));
    }
  }
  // Generation stops at the context length; the cache holds exactly what can be used.
  const int64_t max_new = std::min<int64_t>(params.max_tokens, info.context_length - prompt_len);
  const ModelConfig& c = impl_->llama->config();
  INFER_ASSIGN_OR_RETURN(SequenceKvCache kv,
                         SequenceKvCache::Create(c, prompt_len + std::max<int64_t>(max_new, 1)));

  Completion result;
  result.prompt_token_ids = prompt_ids;
  result.prompt_tokens = prompt_len;
  result.finish_reason = FinishReason::kLength;
  if (max_new == 0) return result;

  Sampler sampler(params, info.vocab_size, prompt_ids);
  StreamDecoder decoder(*impl_->tokenizer);
  std::vector<float> logits;
  std::lock_guard<std::mutex> lock(impl_->forward_mu);
  const Clock::time_point start = Clock::now();
  INFER_RETURN_IF_ERROR(impl_->llama->ForwardSequence(prompt_ids, 0, kv.block_table, *kv.cache,
                                                      /*all_logits=*/false, logits,
                                                      impl_->pool.get()));
  const Clock::time_point prefill_done = Clock::now();
  result.prefill_seconds = Seconds(prefill_done - start);

  int64_t pos = prompt_len;
  for (int64_t step = 0; step < max_new; ++step) {
    SampledToken token = sampler.Sample(logits);
    const TokenId id = token.id;
    const bool is_stop = (!params.ignore_eos && impl_->tokenizer->IsEndOfGeneration(id)) ||
                         std::find(params.stop_token_ids.begin(), params.stop_token_ids.end(),
                                   id) != params.stop_token_ids.end();
    TokenEvent event;
    event.text = decoder.Push(id);
    result.text += event.text;
    event.token = token;
    result.tokens.push_back(std::move(token));
    ++result.completion_tokens;
    if (on_token && !on_token(event)) {
      result.finish_reason = FinishReason::kCancelled;
      break;
    }
    if (is_stop) {
      result.finish_reason = FinishReason::kStop;
      break;
    }
    if (step + 1 == max_new) break;
    const TokenId next[1] = {id};
    INFER_RETURN_IF_ERROR(impl_->llama->ForwardSequence(next, pos, kv.block_table, *kv.cache,
                                                        /*all_logits=*/false, logits,
                                                        impl_->pool.get()));
    ++pos;
  }
  result.text += decoder.Flush();
  result.decode_seconds = Seconds(Clock::now() - prefill_done);
  return result;
}

}  // namespace infer
