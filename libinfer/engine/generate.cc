// Model::Generate: one blocking request, for embedding apps, run by the same step loop as the
// Scheduler's requests (so stop conditions and cancellation behave the same everywhere).
#include <chrono>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "infer/model.h"
#include "infer/scheduler.h"
#include "libinfer/chat/conversation.h"
#include "libinfer/model/model_impl.h"
#include "libinfer/util/status_macros.h"

namespace infer {
namespace {

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
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= vocab_size) {
      return FieldError("logit_bias", absl::StrCat("token ", id, " is outside the vocabulary [0, ",
                                                   vocab_size, ")"));
    }
    if (!(bias >= -100.0f && bias <= 100.0f)) {
      return FieldError("logit_bias", absl::StrCat("the bias of token ", id,
                                                   " must be in [-100, 100], got ", bias));
    }
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
  INFER_ASSIGN_OR_RETURN(std::vector<TokenId> ids, ImplOf(*this).tokenizer->Encode(prompt));
  return GenerateFromTokens(std::move(ids), params, on_token);
}

absl::StatusOr<Completion> Model::Generate(std::span<const ChatMessage> messages,
                                           const ChatOptions& options, const SamplingParams& params,
                                           const TokenCallback& on_token) {
  INFER_ASSIGN_OR_RETURN(ChatPrompt prompt,
                         PrepareChat(*this, messages, options, params.grammar != nullptr));
  SamplingParams run = params;
  if (prompt.calls_grammar != nullptr) run.grammar = prompt.calls_grammar;
  INFER_ASSIGN_OR_RETURN(Completion done, GenerateFromTokens(std::move(prompt.ids), run, on_token));
  if (prompt.reads_calls) {
    chat::ExtractedCalls calls = chat::ExtractToolCalls(done.text);
    done.text = std::move(calls.content);
    done.tool_calls = std::move(calls.calls);
  }
  return done;
}

absl::StatusOr<Completion> Model::GenerateFromTokens(std::vector<TokenId> prompt_ids,
                                                     const SamplingParams& params,
                                                     const TokenCallback& on_token) {
  const ModelInfo& info = ImplOf(*this).info;
  INFER_RETURN_IF_ERROR(ValidateSamplingParams(params, info.vocab_size));
  if (prompt_ids.empty()) return absl::InvalidArgumentError("prompt: no tokens");
  const int64_t prompt_len = static_cast<int64_t>(prompt_ids.size());
  if (prompt_len >= info.context_length) {
    return absl::InvalidArgumentError(absl::StrCat("prompt: ", prompt_len,
                                                   " tokens leave no room in the context length ",
                                                   info.context_length));
  }
  Completion result;
  result.prompt_token_ids = prompt_ids;
  result.prompt_tokens = prompt_len;
  result.finish_reason = FinishReason::kLength;
  // Generation stops at the context length; the cache holds exactly what can be used.
  const int64_t max_new = std::min<int64_t>(params.max_tokens, info.context_length - prompt_len);
  if (max_new == 0) return result;

  // The same step loop as every other client: a Scheduler of one sequence, whose KV cache holds
  // exactly this request, driven from this thread through its handle.
  SchedulerOptions options;
  options.block_size = static_cast<int32_t>(kDefaultKvBlockSize);
  const int64_t blocks = BlocksFor(prompt_len + max_new, kDefaultKvBlockSize);
  options.kv_cache_bytes = static_cast<uint64_t>(blocks) *
                           ImplOf(*this).runner->KvBytesPerBlock(kDefaultKvBlockSize, kHostKvDType);
  options.max_context = prompt_len + max_new;  // what this cache holds: no warning that it is less
  options.max_num_seqs = 1;
  options.max_waiting = 1;
  options.max_num_batched_tokens = static_cast<int32_t>(kMaxChunkTokens);
  options.enable_prefix_caching = false;
  INFER_ASSIGN_OR_RETURN(std::unique_ptr<Scheduler> scheduler, Scheduler::Create(*this, options));
  Request request;
  request.prompt = std::move(prompt_ids);
  request.sampling = params;
  request.sampling.max_tokens = static_cast<int32_t>(max_new);
  INFER_ASSIGN_OR_RETURN(RequestHandle handle, scheduler->Submit(std::move(request)));
  bool cancelled = false;
  while (std::optional<StreamEvent> event = handle.Next()) {
    result.text += event->text;
    result.tokens.push_back(event->token);
    if (on_token && !on_token(TokenEvent{event->token, event->text})) {
      handle.Cancel();
      cancelled = true;
      break;
    }
  }
  const RequestResult& done = handle.Wait();
  if (done.finish_reason == FinishReason::kError) return done.status;
  result.completion_tokens = static_cast<int64_t>(result.tokens.size());
  result.finish_reason = cancelled ? FinishReason::kCancelled : done.finish_reason;
  if (!cancelled) result.text = done.text;
  const std::vector<double>& times = done.usage.token_times;
  if (!times.empty()) {
    result.prefill_seconds = times.front();
    result.decode_seconds = times[std::min(times.size(), result.tokens.size()) - 1] - times.front();
  }
  return result;
}

}  // namespace infer
