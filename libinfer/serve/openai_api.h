// The OpenAI protocol: request bodies of /v1/chat/completions and /v1/completions parsed and
// checked into what the Scheduler takes, and the JSON of answers, stream chunks and errors.
// Field names and behaviour follow vLLM where OpenAI leaves a choice. Pure functions: no I/O.
#ifndef INFER_SERVE_OPENAI_API_H_
#define INFER_SERVE_OPENAI_API_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "infer/chat.h"
#include "infer/sampling.h"
#include "infer/scheduler.h"
#include "libinfer/chat/conversation.h"
#include "nlohmann/json.hpp"

namespace infer::serve {

// An error answer: HTTP status and OpenAI's error object.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the offending field, "" for none
  std::string code;   // "" for none
};

std::string ErrorBody(const ApiError& e);

// A 400 naming the offending field `param` ("" for the body as a whole).
ApiError BadRequest(const std::string& param, const std::string& message);

// The field `name` of the object `body`, or null when it is absent or JSON null (the API treats
// both alike).
const nlohmann::json* PresentField(const nlohmann::json& body, const char* name);

// The request body read again in document order, parsed on first use: the members of a schema
// and of the tools are shown to the model (and generated) in the order the client wrote them,
// which nlohmann::json's sorted objects lose.
class OrderedBody {
 public:
  explicit OrderedBody(const std::string& text) : text_(text) {}
  // The member at `path` (keys from the top), or null when the text does not hold it.
  const nlohmann::ordered_json* Find(const std::vector<const char*>& path);

 private:
  const std::string& text_;
  std::optional<nlohmann::ordered_json> doc_;
};
// True when `value` is an object whose member `key` is the string `want`. Never throws: a member
// of another type is simply not that string (nlohmann's value(key, default) throws on it).
bool MemberIs(const nlohmann::json& value, const char* key, std::string_view want);

// The same object as JSON (for an SSE error event).
nlohmann::json ErrorJson(const ApiError& e);

// What a completion request asks for, before its prompt is tokenized.
// NOLINTNEXTLINE(bugprone-exception-escape): its JSON members allocate; a bad_alloc ends the call
struct CompletionRequest {
  bool chat = false;
  std::string model;
  nlohmann::ordered_json messages;  // chat: the checked messages, members in document order
  std::string prompt_text;          // completions: a text prompt
  std::vector<TokenId> prompt_ids;  // completions: a prompt given as token ids
  bool prompt_is_ids = false;
  SamplingParams sampling;  // max_tokens < 0: fill the context
  std::vector<std::string> stop;
  int n = 1;
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;
  int top_logprobs = 0;
  bool echo = false;
  std::string user;         // `user`, else `safety_identifier`: logs and fairness
  int32_t priority = 0;     // vLLM's `priority`: lower runs first
  chat::ToolRequest tools;  // chat only
};

// Called with the request's `model` ("" when absent) once it is read, before the sampling
// fields: it may set the model's defaults in `sampling`, which the fields the body holds then
// override; an error it returns is the answer.
using SamplingDefaultsHook =
    std::function<std::optional<ApiError>(const std::string& model, SamplingParams* sampling)>;

// Parses and checks a body. Every field either works or is a 400 naming it, unknown fields
// included (request_fields.h); a wrong type or an out-of-range value is a 400 naming the field.
std::optional<ApiError> ParseCompletionRequest(const std::string& body, bool chat, int max_n,
                                               CompletionRequest* out,
                                               const SamplingDefaultsHook& defaults = {});

// One finished choice, for the non-streamed answer.
struct ChoiceResult {
  std::string text;  // with tool calls: the content before them
  std::vector<ToolCall> tool_calls;
  std::vector<SampledToken> tokens;
  FinishReason finish_reason = FinishReason::kStop;
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;
};

nlohmann::json UsageJson(const Usage& u);

// The logprobs object of one choice: chat ({"content": [...]}) or completions (tokens,
// token_logprobs, top_logprobs, text_offset).
nlohmann::json LogprobsJson(const Tokenizer& tok, const std::vector<SampledToken>& tokens,
                            bool chat);

// The whole answer of a non-streamed request.
nlohmann::json CompletionJson(const CompletionRequest& req, const std::string& id, int64_t created,
                              const std::string& model, const std::vector<ChoiceResult>& choices,
                              const Usage& usage, const Tokenizer& tok);

// One stream chunk for choice `index`: a role announcement (chat, first), a text delta, or the
// final one with `finish_reason`.
nlohmann::json ChunkJson(const CompletionRequest& req, const std::string& id, int64_t created,
                         const std::string& model, int index, const std::string* role,
                         const std::string& text, const SampledToken* token,
                         const char* finish_reason, const Tokenizer& tok);

// The chunk that carries choice `index`'s tool calls, whole (the openai client assembles them
// by their index).
nlohmann::json ToolCallsChunkJson(const CompletionRequest& req, const std::string& id,
                                  int64_t created, const std::string& model, int index,
                                  const std::vector<ToolCall>& calls);

// The finish reason as the API names it: "tool_calls" when a stopped choice made calls.
const char* ApiFinishReason(FinishReason reason, bool made_tool_calls);

// The usage chunk (stream_options.include_usage): no choices.
nlohmann::json UsageChunkJson(const CompletionRequest& req, const std::string& id, int64_t created,
                              const std::string& model, const Usage& usage);

}  // namespace infer::serve

#endif  // INFER_SERVE_OPENAI_API_H_
