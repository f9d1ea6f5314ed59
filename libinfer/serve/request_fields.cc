#include "libinfer/serve/request_fields.h"

#include <string_view>

#include "absl/strings/str_cat.h"

namespace infer::serve {
namespace {

using nlohmann::json;

enum class Use : uint8_t {
  kTaken,    // read by the request parser, which checks its value
  kNeutral,  // accepted only with a value that asks for nothing (what this server does anyway)
  kRefused,  // refused whenever present (with `why`)
};
enum Where : uint8_t { kChat = 1, kCompletions = 2, kBoth = 3 };

bool IsFalse(const json& v) { return v == false; }
bool IsTrue(const json& v) { return v == true; }
bool IsOne(const json& v) { return v == 1; }
bool IsString(const json& v) { return v.is_string(); }  // a hint with no effect here
bool IsTier(const json& v) { return v == "auto" || v == "default"; }
bool IsTextOnly(const json& v) { return v == json::array({"text"}); }
bool IsEmptyArray(const json& v) { return v.is_array() && v.empty(); }
bool IsNone(const json& v) { return v == "none"; }
bool IsStringMap(const json& v) {
  if (!v.is_object() || v.size() > 16) return false;
  for (const auto& [k, x] : v.items()) {
    if (!x.is_string()) return false;
  }
  return true;
}

struct Field {
  std::string_view name;
  Where where;
  Use use;
  bool (*neutral)(const json&) = nullptr;  // kNeutral: the values accepted
  std::string_view what = "";              // kNeutral: those values in words; kRefused: why
};

// Every field of OpenAI's chat and completions requests and of vLLM's extensions that this
// server knows; a field not here is refused as unknown.
constexpr Field kFields[] = {
    {"model", kBoth, Use::kTaken},
    {"messages", kChat, Use::kTaken},
    {"prompt", kCompletions, Use::kTaken},
    {"max_tokens", kBoth, Use::kTaken},
    {"max_completion_tokens", kChat, Use::kTaken},
    {"temperature", kBoth, Use::kTaken},
    {"top_p", kBoth, Use::kTaken},
    {"top_k", kBoth, Use::kTaken},
    {"min_p", kBoth, Use::kTaken},
    {"frequency_penalty", kBoth, Use::kTaken},
    {"presence_penalty", kBoth, Use::kTaken},
    {"repetition_penalty", kBoth, Use::kTaken},
    {"logit_bias", kBoth, Use::kTaken},
    {"seed", kBoth, Use::kTaken},
    {"stop", kBoth, Use::kTaken},
    {"stop_token_ids", kBoth, Use::kTaken},
    {"ignore_eos", kBoth, Use::kTaken},
    {"n", kBoth, Use::kTaken},
    {"stream", kBoth, Use::kTaken},
    {"stream_options", kBoth, Use::kTaken},
    {"logprobs", kBoth, Use::kTaken},
    {"top_logprobs", kChat, Use::kTaken},
    {"echo", kCompletions, Use::kTaken},
    {"user", kBoth, Use::kTaken},
    {"priority", kBoth, Use::kTaken},
    {"response_format", kBoth, Use::kTaken},
    {"guided_json", kBoth, Use::kTaken},
    {"guided_regex", kBoth, Use::kTaken},
    {"guided_choice", kBoth, Use::kTaken},
    {"structured_outputs", kBoth, Use::kTaken},
    {"tools", kBoth, Use::kTaken},
    {"tool_choice", kChat, Use::kTaken},
    {"parallel_tool_calls", kChat, Use::kTaken},
    {"functions", kChat, Use::kNeutral, IsEmptyArray, "[] (deprecated: use 'tools')"},
    {"function_call", kChat, Use::kNeutral, IsNone, "\"none\" (deprecated: use 'tool_choice')"},
    {"best_of", kCompletions, Use::kNeutral, IsOne, "1"},
    {"store", kBoth, Use::kNeutral, IsFalse, "false (completions are not stored)"},
    {"metadata", kBoth, Use::kNeutral, IsStringMap, "up to 16 string values (kept with nothing)"},
    {"service_tier", kBoth, Use::kNeutral, IsTier, "auto or default"},
    {"prompt_cache_key", kBoth, Use::kNeutral, IsString,
     "a string (the prefix cache needs no key)"},
    {"safety_identifier", kBoth, Use::kTaken},
    {"modalities", kChat, Use::kNeutral, IsTextOnly, "[\"text\"]"},
    {"skip_special_tokens", kBoth, Use::kNeutral, IsTrue, "true"},
    {"spaces_between_special_tokens", kBoth, Use::kNeutral, IsTrue, "true"},
    {"include_stop_str_in_output", kBoth, Use::kNeutral, IsFalse, "false"},
    {"use_beam_search", kBoth, Use::kNeutral, IsFalse, "false"},
    {"add_generation_prompt", kChat, Use::kNeutral, IsTrue, "true"},
    {"continue_final_message", kChat, Use::kNeutral, IsFalse, "false"},
    {"echo", kChat, Use::kNeutral, IsFalse, "false"},
    {"audio", kChat, Use::kRefused, nullptr, "this server answers in text"},
    {"prediction", kChat, Use::kRefused, nullptr, "no predicted outputs"},
    {"reasoning_effort", kChat, Use::kRefused, nullptr, "no reasoning controls"},
    {"verbosity", kChat, Use::kRefused, nullptr, "no verbosity control"},
    {"web_search_options", kChat, Use::kRefused, nullptr, "no web search"},
    {"chat_template", kChat, Use::kRefused, nullptr, "the model's own template is used"},
    {"chat_template_kwargs", kChat, Use::kRefused, nullptr, "no template variables"},
    {"documents", kChat, Use::kRefused, nullptr, "no retrieval documents"},
    {"min_tokens", kBoth, Use::kRefused, nullptr, "no minimum length"},
    {"truncate_prompt_tokens", kBoth, Use::kRefused, nullptr, "prompts are never truncated"},
    {"length_penalty", kBoth, Use::kRefused, nullptr, "no beam search"},
    {"request_id", kBoth, Use::kRefused, nullptr, "the server names each request itself"},
    {"suffix", kCompletions, Use::kRefused, nullptr, "no fill-in-the-middle"},
    {"guided_grammar", kBoth, Use::kRefused, nullptr,
     "no EBNF front end; use guided_json, guided_regex, guided_choice or response_format"},
    {"guided_whitespace_pattern", kBoth, Use::kRefused, nullptr,
     "the JSON layout is fixed: \", \" and \": \""},
    {"guided_decoding_backend", kBoth, Use::kRefused, nullptr, "the server has one grammar engine"},
};

}  // namespace

std::optional<ApiError> CheckRequestFields(const json& body, bool chat) {
  const Where here = chat ? kChat : kCompletions;
  for (const auto& [key, value] : body.items()) {
    const Field* known = nullptr;
    bool other_route = false;
    for (const Field& f : kFields) {
      if (f.name != key) continue;
      if ((f.where & here) != 0) {
        known = &f;
        break;
      }
      other_route = true;
    }
    if (known == nullptr) {
      return BadRequest(
          key, absl::StrCat("'", key, "' is not a field of ",
                            chat ? "/v1/chat/completions" : "/v1/completions",
                            other_route ? " (it belongs to the other route)"
                                        : " (unknown fields are refused, as OpenAI does)"));
    }
    if (value.is_null() || known->use == Use::kTaken) continue;
    if (known->use == Use::kRefused) {
      return BadRequest(key, absl::StrCat("'", key, "' is not supported by this server (",
                                          std::string(known->what), "); leave it out"));
    }
    if (!known->neutral(value)) {
      return BadRequest(key, absl::StrCat("'", key, "' is accepted only as ",
                                          std::string(known->what), " by this server"));
    }
  }
  return std::nullopt;
}

}  // namespace infer::serve
