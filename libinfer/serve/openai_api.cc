#include "libinfer/serve/openai_api.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "libinfer/serve/request_fields.h"
#include "libinfer/serve/structured_output.h"
#include "libinfer/serve/tool_calls.h"

namespace infer::serve {
namespace {

using nlohmann::json;

ApiError Bad(const std::string& param, const std::string& message) {
  return BadRequest(param, message);
}

const char* TypeName(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    case json::value_t::number_float:
      return "number";
    default:
      return "integer";
  }
}

ApiError WrongType(const std::string& field, const char* want, const json& got) {
  return Bad(field, absl::StrCat("'", field, "' must be ", want, ", got ", TypeName(got)));
}

// Reads an optional number field within [lo, hi]; null means absent.
std::optional<ApiError> Number(const json& body, const char* field, double lo, double hi,
                               float* out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return WrongType(field, "a number", *it);
  const double v = it->get<double>();
  if (!(v >= lo && v <= hi)) {
    return Bad(field, absl::StrCat("'", field, "' must be in [", lo, ", ", hi, "], got ", v));
  }
  *out = static_cast<float>(v);
  return std::nullopt;
}

std::optional<ApiError> Integer(const json& body, const char* field, int64_t lo, int64_t hi,
                                int64_t* out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) return WrongType(field, "an integer", *it);
  const int64_t v = it->is_number_unsigned()
                        ? static_cast<int64_t>(std::min<uint64_t>(it->get<uint64_t>(), INT64_MAX))
                        : it->get<int64_t>();
  if (v < lo || v > hi) {
    return Bad(field, absl::StrCat("'", field, "' must be in [", lo, ", ", hi, "], got ", v));
  }
  *out = v;
  return std::nullopt;
}

std::optional<ApiError> Boolean(const json& body, const char* field, bool* out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return WrongType(field, "a boolean", *it);
  *out = it->get<bool>();
  return std::nullopt;
}

// Checks the messages in `body`; the output is taken from `ordered` (the same body in document
// order): templates that print a message's members (`tool_call.function | tojson`) print them in
// the order the client sent, as Hugging Face's apply_chat_template does.
std::optional<ApiError> ParseMessages(const json& body, OrderedBody& ordered,
                                      nlohmann::ordered_json* out) {
  auto it = body.find("messages");
  if (it == body.end()) return Bad("messages", "'messages' is required");
  if (!it->is_array()) return WrongType("messages", "an array", *it);
  if (it->empty()) return Bad("messages", "'messages' must not be empty");
  const nlohmann::ordered_json* in_order = ordered.Find({"messages"});
  if (in_order == nullptr || !in_order->is_array() || in_order->size() != it->size()) {
    return Bad("messages", "'messages' is given twice");
  }
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string where = absl::StrCat("messages[", i, "]");
    if (!m.is_object()) return WrongType(where, "an object", m);
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) {
      return Bad(where + ".role", absl::StrCat("'", where, ".role' must be a string"));
    }
    const std::string r = role->get<std::string>();
    if (r != "system" && r != "user" && r != "assistant" && r != "tool" && r != "developer") {
      return Bad(where + ".role",
                 absl::StrCat("'", where,
                              ".role' must be system, developer, user, assistant or "
                              "tool, got '",
                              r, "'"));
    }
    nlohmann::ordered_json msg = (*in_order)[i];
    msg["role"] = r == "developer" ? "system" : r;
    if (auto calls = m.find("tool_calls"); calls != m.end() && !calls->is_null()) {
      if (r != "assistant" || !calls->is_array()) {
        return Bad(where + ".tool_calls",
                   absl::StrCat("'", where,
                                ".tool_calls' must be an array on an assistant "
                                "message"));
      }
      for (size_t k = 0; k < calls->size(); ++k) {
        const json& c = (*calls)[k];
        const bool ok =
            c.is_object() && c.contains("function") && c["function"].is_object() &&
            c["function"].contains("name") && c["function"]["name"].is_string() &&
            (!c["function"].contains("arguments") || c["function"]["arguments"].is_string() ||
             c["function"]["arguments"].is_object());
        if (!ok) {
          const std::string cw = absl::StrCat(where, ".tool_calls[", k, "]");
          return Bad(cw, absl::StrCat("'", cw,
                                      "' must be {\"id\", \"type\": \"function\", "
                                      "\"function\": {\"name\", \"arguments\"}}"));
        }
      }
    }
    auto content = m.find("content");
    if (content == m.end() || content->is_null()) {
      if (r != "assistant")
        return Bad(where + ".content", absl::StrCat("'", where, ".content' is required"));
      msg["content"] = "";
    } else if (content->is_array()) {
      // Text parts are joined, as vLLM does for text-only models.
      std::string text;
      for (size_t k = 0; k < content->size(); ++k) {
        const json& part = (*content)[k];
        const std::string pw = absl::StrCat(where, ".content[", k, "]");
        if (!part.is_object() || !MemberIs(part, "type", "text") || !part.contains("text") ||
            !part["text"].is_string()) {
          return Bad(pw, absl::StrCat("'", pw,
                                      "' must be a text part {\"type\": \"text\", "
                                      "\"text\": ...}; this model takes text only"));
        }
        if (!text.empty()) text += "\n";
        text += part["text"].get<std::string>();
      }
      msg["content"] = text;
    } else if (!content->is_string()) {
      return WrongType(where + ".content", "a string or an array of text parts", *content);
    }
    messages.push_back(std::move(msg));
  }
  *out = std::move(messages);
  return std::nullopt;
}

}  // namespace

ApiError BadRequest(const std::string& param, const std::string& message) {
  ApiError e;
  e.message = message;
  e.param = param;
  return e;
}

const json* PresentField(const json& body, const char* name) {
  auto it = body.find(name);
  return it != body.end() && !it->is_null() ? &*it : nullptr;
}

const nlohmann::ordered_json* OrderedBody::Find(const std::vector<const char*>& path) {
  if (!doc_) doc_ = nlohmann::ordered_json::parse(text_, nullptr, /*allow_exceptions=*/false);
  const nlohmann::ordered_json* at = &*doc_;
  for (const char* key : path) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(key);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

json ErrorJson(const ApiError& e) {
  json err = {{"message", e.message},
              {"type", e.type},
              {"param", e.param.empty() ? json(nullptr) : json(e.param)},
              {"code", e.code.empty() ? json(nullptr) : json(e.code)}};
  return json{{"error", std::move(err)}};
}

std::string ErrorBody(const ApiError& e) { return ErrorJson(e).dump(); }

namespace {

// A completion's `prompt`: a string, a list of one string, or token ids.
std::optional<ApiError> ParsePrompt(const json& body, CompletionRequest& r) {
  auto it = body.find("prompt");
  if (it == body.end()) return Bad("prompt", "'prompt' is required");
  if (it->is_string()) {
    r.prompt_text = it->get<std::string>();
  } else if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) {
    r.prompt_text = (*it)[0].get<std::string>();
  } else if (it->is_array() && !it->empty() && (*it)[0].is_number_integer()) {
    r.prompt_is_ids = true;
    for (const json& v : *it) {
      if (!v.is_number_integer()) return Bad("prompt", "'prompt' token ids must be integers");
      const int64_t id = v.get<int64_t>();
      if (id < 0 || id > INT32_MAX)
        return Bad("prompt", absl::StrCat("token id ", id, " is out of range"));
      r.prompt_ids.push_back(static_cast<TokenId>(id));
    }
  } else {
    return Bad("prompt",
               "'prompt' must be a string, a list of one string, or a list of "
               "token ids (batches of prompts are not supported)");
  }
  if (!r.prompt_is_ids && r.prompt_text.empty()) return Bad("prompt", "'prompt' is empty");
  if (auto e = Boolean(body, "echo", &r.echo)) return e;
  return std::nullopt;
}

// The sampling fields, over the defaults already in `s`.
std::optional<ApiError> ParseSampling(const json& body, SamplingParams& s) {
  int64_t max_tokens = s.max_tokens;
  if (auto e = Integer(body, "max_tokens", 1, INT32_MAX, &max_tokens)) return e;
  if (auto e = Integer(body, "max_completion_tokens", 1, INT32_MAX, &max_tokens)) return e;
  s.max_tokens = static_cast<int32_t>(max_tokens);
  if (auto e = Number(body, "temperature", 0, 2, &s.temperature)) return e;
  if (auto e = Number(body, "top_p", 0, 1, &s.top_p)) return e;
  if (body.contains("top_p") && body["top_p"].is_number() && s.top_p <= 0) {
    return Bad("top_p", "'top_p' must be in (0, 1]");
  }
  int64_t top_k = s.top_k;
  if (auto e = Integer(body, "top_k", -1, INT32_MAX, &top_k)) return e;
  s.top_k = static_cast<int32_t>(top_k);
  if (auto e = Number(body, "min_p", 0, 1, &s.min_p)) return e;
  // vLLM's extension: keep generating past end-of-generation tokens (benchmarks, fixed lengths).
  if (auto e = Boolean(body, "ignore_eos", &s.ignore_eos)) return e;
  if (auto e = Number(body, "repetition_penalty", 1e-6, 100, &s.repetition_penalty)) return e;
  if (auto e = Number(body, "presence_penalty", -2, 2, &s.presence_penalty)) return e;
  if (auto e = Number(body, "frequency_penalty", -2, 2, &s.frequency_penalty)) return e;
  if (auto it = body.find("stop_token_ids"); it != body.end() && !it->is_null()) {
    if (!it->is_array() || it->size() > 64) {
      return Bad("stop_token_ids", "'stop_token_ids' must be a list of at most 64 token ids");
    }
    s.stop_token_ids.clear();
    for (const json& v : *it) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX) {
        return Bad("stop_token_ids", "'stop_token_ids' must hold token ids");
      }
      s.stop_token_ids.push_back(static_cast<TokenId>(v.get<int64_t>()));
    }
  }
  if (auto it = body.find("seed"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer()) return WrongType("seed", "an integer", *it);
    s.seed =
        it->is_number_unsigned() ? it->get<uint64_t>() : static_cast<uint64_t>(it->get<int64_t>());
  }
  return std::nullopt;
}

// `stop`: a string or up to 16 of them.
std::optional<ApiError> ParseStop(const json& body, CompletionRequest& r) {
  if (auto it = body.find("stop"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      r.stop.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      if (it->size() > 16) return Bad("stop", "'stop' holds at most 16 strings");
      for (const json& v : *it) {
        if (!v.is_string()) return Bad("stop", "'stop' must be a string or a list of strings");
        r.stop.push_back(v.get<std::string>());
      }
    } else {
      return WrongType("stop", "a string or a list of strings", *it);
    }
    for (const std::string& st : r.stop) {
      if (st.empty() || st.size() > 1024) {
        return Bad("stop", "stop strings must hold 1 to 1024 bytes");
      }
    }
  }
  return std::nullopt;
}

// `logit_bias`: {"token id": bias in [-100, 100]}, at most 300 entries (as OpenAI's limits).
std::optional<ApiError> ParseLogitBias(const json& body, SamplingParams& s) {
  auto it = body.find("logit_bias");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_object()) return WrongType("logit_bias", "an object", *it);
  if (it->size() > 300) return Bad("logit_bias", "'logit_bias' holds at most 300 tokens");
  s.logit_bias.clear();
  for (const auto& [key, v] : it->items()) {
    int64_t id = -1;
    const bool digits = !key.empty() && key.size() <= 10 &&
                        key.find_first_not_of("0123456789") == std::string::npos;
    if (digits) id = std::stoll(key);
    if (!digits || id > INT32_MAX) {
      return Bad("logit_bias",
                 absl::StrCat("'logit_bias' keys must be token ids, got '", key, "'"));
    }
    if (!v.is_number() || !(v.get<double>() >= -100 && v.get<double>() <= 100)) {
      return Bad(
          "logit_bias",
          absl::StrCat("'logit_bias' values must be numbers in [-100, 100] (token ", key, ")"));
    }
    s.logit_bias.emplace_back(static_cast<TokenId>(id), v.get<float>());
  }
  return std::nullopt;
}

// `n`, `stream`, `stream_options` and the logprobs fields (chat's and completions' shapes).
std::optional<ApiError> ParseChoicesAndOutput(const json& body, bool chat, int max_n,
                                              CompletionRequest& r) {
  int64_t n = 1;
  if (auto e = Integer(body, "n", 1, max_n, &n)) return e;
  r.n = static_cast<int>(n);
  if (auto e = Boolean(body, "stream", &r.stream)) return e;
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return WrongType("stream_options", "an object", *it);
    if (!r.stream) return Bad("stream_options", "'stream_options' needs 'stream': true");
    if (auto e = Boolean(*it, "include_usage", &r.include_usage)) {
      e->param = "stream_options.include_usage";
      return e;
    }
  }
  if (chat) {
    if (auto e = Boolean(body, "logprobs", &r.logprobs)) return e;
    int64_t top = 0;
    if (auto e = Integer(body, "top_logprobs", 0, 20, &top)) return e;
    if (top > 0 && !r.logprobs) return Bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    r.top_logprobs = static_cast<int>(top);
  } else {
    int64_t lp = -1;
    if (auto e = Integer(body, "logprobs", 0, 20, &lp)) return e;
    r.logprobs = lp >= 0;
    r.top_logprobs = static_cast<int>(std::max<int64_t>(lp, 0));
  }
  r.sampling.logprobs = r.logprobs ? r.top_logprobs : -1;
  return std::nullopt;
}

}  // namespace

bool MemberIs(const json& value, const char* key, std::string_view want) {
  if (!value.is_object()) return false;
  auto it = value.find(key);
  return it != value.end() && it->is_string() && it->get_ref<const std::string&>() == want;
}

std::optional<ApiError> ParseCompletionRequest(const std::string& text, bool chat, int max_n,
                                               CompletionRequest* out,
                                               const SamplingDefaultsHook& defaults) {
  json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return Bad("", "the request body is not valid JSON");
  if (!body.is_object()) return Bad("", "the request body must be a JSON object");
  if (auto e = CheckRequestFields(body, chat)) return e;
  CompletionRequest& r = *out;
  r.chat = chat;
  if (auto it = body.find("model"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) return WrongType("model", "a string", *it);
    r.model = it->get<std::string>();
  }
  SamplingParams& s = r.sampling;
  s.max_tokens = -1;
  if (defaults) {
    if (auto e = defaults(r.model, &s)) return e;
  }
  OrderedBody ordered(text);
  if (chat) {
    if (auto e = ParseMessages(body, ordered, &r.messages)) return e;
  } else if (auto e = ParsePrompt(body, r)) {
    return e;
  }
  if (auto e = ParseSampling(body, s)) return e;
  if (auto e = ParseLogitBias(body, s)) return e;
  if (auto e = ParseStructuredOutput(ordered, body, &s.grammar)) return e;
  if (auto e = ParseTools(ordered, body, chat, &r.tools, &s.grammar)) return e;
  if (auto e = ParseStop(body, r)) return e;
  if (auto e = ParseChoicesAndOutput(body, chat, max_n, r)) return e;
  for (const char* field : {"safety_identifier", "user"}) {
    if (auto it = body.find(field); it != body.end() && !it->is_null()) {
      if (!it->is_string()) return WrongType(field, "a string", *it);
      r.user = it->get<std::string>();
    }
  }
  int64_t priority = 0;
  if (auto e = Integer(body, "priority", INT32_MIN, INT32_MAX, &priority)) return e;
  r.priority = static_cast<int32_t>(priority);
  return std::nullopt;
}

json UsageJson(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

namespace {

std::string TokenString(const Tokenizer& tok, TokenId id) {
  // A token that is part of a UTF-8 character is not valid text alone: its invalid bytes become
  // U+FFFD here, and `bytes` carries the exact value.
  const std::string b = tok.TokenBytes(id);
  return json::parse(json(b).dump(-1, ' ', false, json::error_handler_t::replace))
      .get<std::string>();
}

json Bytes(const Tokenizer& tok, TokenId id) {
  json a = json::array();
  for (unsigned char c : tok.TokenBytes(id)) a.push_back(static_cast<int>(c));
  return a;
}

}  // namespace

json LogprobsJson(const Tokenizer& tok, const std::vector<SampledToken>& tokens, bool chat) {
  if (chat) {
    json content = json::array();
    for (const SampledToken& t : tokens) {
      json top = json::array();
      for (const TokenLogprob& alt : t.top) {
        top.push_back({{"token", TokenString(tok, alt.id)},
                       {"logprob", alt.logprob},
                       {"bytes", Bytes(tok, alt.id)}});
      }
      content.push_back({{"token", TokenString(tok, t.id)},
                         {"logprob", t.logprob},
                         {"bytes", Bytes(tok, t.id)},
                         {"top_logprobs", std::move(top)}});
    }
    return {{"content", std::move(content)}};
  }
  json toks = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
  int64_t offset = 0;
  for (const SampledToken& t : tokens) {
    const std::string s = TokenString(tok, t.id);
    toks.push_back(s);
    lps.push_back(t.logprob);
    json top = json::object();
    for (const TokenLogprob& alt : t.top) top[TokenString(tok, alt.id)] = alt.logprob;
    tops.push_back(std::move(top));
    offsets.push_back(offset);
    offset += static_cast<int64_t>(s.size());
  }
  return {
      {"tokens", toks}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

namespace {

json ToolCallsJson(const std::vector<ToolCall>& calls, bool indexed) {
  json out = json::array();
  for (size_t k = 0; k < calls.size(); ++k) {
    json call = {{"id", calls[k].id},
                 {"type", "function"},
                 {"function", {{"name", calls[k].name}, {"arguments", calls[k].arguments}}}};
    if (indexed) call["index"] = k;
    out.push_back(std::move(call));
  }
  return out;
}

}  // namespace

const char* ApiFinishReason(FinishReason reason, bool made_tool_calls) {
  return made_tool_calls && reason == FinishReason::kStop ? "tool_calls" : FinishReasonName(reason);
}

json ToolCallsChunkJson(const CompletionRequest& req, const std::string& id, int64_t created,
                        const std::string& model, int index, const std::vector<ToolCall>& calls) {
  json chunk = {{"id", id},
                {"object", "chat.completion.chunk"},
                {"created", created},
                {"model", model},
                {"choices", json::array({{{"index", index},
                                          {"delta", {{"tool_calls", ToolCallsJson(calls, true)}}},
                                          {"logprobs", nullptr},
                                          {"finish_reason", nullptr}}})}};
  if (req.include_usage) chunk["usage"] = nullptr;
  return chunk;
}

json CompletionJson(const CompletionRequest& req, const std::string& id, int64_t created,
                    const std::string& model, const std::vector<ChoiceResult>& choices,
                    const Usage& usage, const Tokenizer& tok) {
  json out_choices = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceResult& c = choices[i];
    json lp = req.logprobs ? LogprobsJson(tok, c.tokens, req.chat) : json(nullptr);
    if (req.chat) {
      json message = {{"role", "assistant"}, {"content", c.text}};
      if (!c.tool_calls.empty()) {
        if (c.text.empty()) message["content"] = nullptr;
        message["tool_calls"] = ToolCallsJson(c.tool_calls, /*indexed=*/false);
      }
      out_choices.push_back(
          {{"index", i},
           {"message", std::move(message)},
           {"logprobs", lp},
           {"finish_reason", ApiFinishReason(c.finish_reason, !c.tool_calls.empty())}});
    } else {
      out_choices.push_back({{"index", i},
                             {"text", req.echo ? req.prompt_text + c.text : c.text},
                             {"logprobs", lp},
                             {"finish_reason", FinishReasonName(c.finish_reason)}});
    }
  }
  return {{"id", id},
          {"object", req.chat ? "chat.completion" : "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", std::move(out_choices)},
          {"usage", UsageJson(usage)}};
}

json ChunkJson(const CompletionRequest& req, const std::string& id, int64_t created,
               const std::string& model, int index, const std::string* role,
               const std::string& text, const SampledToken* token, const char* finish_reason,
               const Tokenizer& tok) {
  json lp = nullptr;
  if (req.logprobs && token != nullptr) lp = LogprobsJson(tok, {*token}, req.chat);
  json choice;
  if (req.chat) {
    json delta = json::object();
    if (role != nullptr) delta["role"] = *role;
    if (role != nullptr || finish_reason == nullptr) delta["content"] = text;
    // With tools the answer may be calls alone: its content starts null, as OpenAI's does.
    if (role != nullptr && req.tools.active()) delta["content"] = nullptr;
    choice = {{"index", index}, {"delta", std::move(delta)}, {"logprobs", lp}};
  } else {
    choice = {{"index", index}, {"text", text}, {"logprobs", lp}};
  }
  choice["finish_reason"] = finish_reason == nullptr ? json(nullptr) : json(finish_reason);
  json chunk = {{"id", id},
                {"object", req.chat ? "chat.completion.chunk" : "text_completion"},
                {"created", created},
                {"model", model},
                {"choices", json::array({std::move(choice)})}};
  if (req.include_usage) chunk["usage"] = nullptr;
  return chunk;
}

json UsageChunkJson(const CompletionRequest& req, const std::string& id, int64_t created,
                    const std::string& model, const Usage& usage) {
  return {{"id", id},
          {"object", req.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", json::array()},
          {"usage", UsageJson(usage)}};
}

}  // namespace infer::serve
