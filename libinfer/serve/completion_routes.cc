// The completion routes: /v1/chat/completions and /v1/completions (one Call per request, its n
// choices as n Scheduler requests whose events arrive on the Scheduler's thread and become SSE
// chunks or one JSON answer; a client that disconnects cancels its Call at once), and
// /v1/models.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libinfer/model/model_impl.h"
#include "libinfer/serve/server_impl.h"
#include "libinfer/serve/tool_calls.h"
#include "libinfer/util/logging.h"

namespace infer {

using nlohmann::json;
using serve::ApiError;
using serve::Clock;
using serve::Error;
using serve::ErrorResponse;
using serve::JsonResponse;
using serve::JsonString;
using serve::RandomId;
using serve::Responder;
using serve::Sse;
using serve::UnixSeconds;

namespace {

// `context`: the context served (the Scheduler's), which the KV cache may hold below the model's.
json ModelJson(const ModelState& m) {
  return {{"id", m.name},
          {"object", "model"},
          {"created", UnixSeconds()},
          {"owned_by", "libinfer"},
          {"root", m.path},
          {"file_type", m.file_type},
          {"max_model_len", m.context_length},
          {"replicas", m.replicas.size()}};
}

ApiError UnknownModel(const absl::Status& status) {
  return Error(404, std::string(status.message()), "NotFoundError", "model", "model_not_found");
}

}  // namespace

HttpResponse Server::Impl::Models() const {
  json data = json::array();
  for (const ModelState& m : models_.State().models) data.push_back(ModelJson(m));
  return JsonResponse(200, {{"object", "list"}, {"data", std::move(data)}});
}

HttpResponse Server::Impl::ModelObject(const std::string& name) const {
  for (const ModelState& m : models_.State().models) {
    if (m.name == name) return JsonResponse(200, ModelJson(m));
  }
  return ErrorResponse(UnknownModel(models_.Acquire(name).status()));
}

// A completion, in stages: parse (and take a replica of the model named) -> the prompt's tokens
// -> the context check -> one Scheduler request a choice. The answer is written by the choices'
// callbacks (CallDone); an error before that is answered here, once.
void Server::Impl::Completion(const HttpRequest& req, std::shared_ptr<Responder> out, bool chat) {
  const Clock::time_point start = Clock::now();
  auto call = std::make_shared<Call>();
  std::vector<TokenId> prompt;
  std::optional<ApiError> error = ParseCall(req.body, chat, *call);
  if (!error) error = PromptTokens(*call, &prompt);
  if (!error) error = CheckContext(*call, static_cast<int64_t>(prompt.size()));
  if (error) return Answer(req, *out, ErrorResponse(*error), start);
  call->out = std::move(out);
  call->http = serve::ForLogLine(req);
  call->id = RandomId(chat ? "chatcmpl-" : "cmpl-");
  call->created = UnixSeconds();
  call->start = start;
  call->choices.resize(static_cast<size_t>(call->api.n));
  call->tool_text.resize(static_cast<size_t>(call->api.n));
  call->tool_sent.resize(static_cast<size_t>(call->api.n), 0);
  call->usage.prompt_tokens = static_cast<int64_t>(prompt.size());
  if (call->api.stream) PrepareDeltaEvents(*call);  // the headers wait for the first event
  SubmitChoices(call, prompt);
}

std::optional<ApiError> Server::Impl::ParseCall(const std::string& body, bool chat, Call& call) {
  // The model is known once `model` is read: its replica is taken then, and its sampling
  // defaults go under the request's own fields.
  auto take_replica = [&](const std::string& model,
                          SamplingParams* sampling) -> std::optional<ApiError> {
    std::string name = model;
    if (name.empty()) {
      const std::vector<std::string> names = models_.names();
      if (names.size() != 1) {
        return Error(400, "'model' is required: this server serves several models",
                     "invalid_request_error", "model");
      }
      name = names[0];
    }
    auto lease = models_.Acquire(name);
    if (!lease.ok()) {
      if (lease.status().code() == absl::StatusCode::kNotFound) {
        return UnknownModel(lease.status());
      }
      return Error(503, std::string(lease.status().message()), "server_error");
    }
    call.lease = std::move(*lease);
    ApplySamplingDefaults(call.lease.sampling_defaults(), sampling);
    return std::nullopt;
  };
  if (auto e = serve::ParseCompletionRequest(body, chat, options_.max_n, &call.api, take_replica)) {
    return e;
  }
  if (!call.api.sampling.seed && options_.seed) {
    call.api.sampling.seed =
        *options_.seed + seed_counter_.fetch_add(static_cast<uint64_t>(call.api.n));
  }
  return std::nullopt;
}

std::optional<ApiError> Server::Impl::PromptTokens(Call& call, std::vector<TokenId>* prompt) {
  serve::CompletionRequest& api = call.api;
  const Tokenizer& tok = call.lease.model().tokenizer();
  const char* param = api.chat ? "messages" : "prompt";
  auto bad = [&](const absl::Status& s, const char* prefix = "") {
    return Error(400, absl::StrCat(prefix, s.message()), "invalid_request_error", param);
  };
  if (api.chat) {
    const absl::StatusOr<const ChatTemplate*> chat_template = ChatTemplateOf(call.lease.model());
    if (!chat_template.ok()) {
      return Error(400, "this model has no chat template; use /v1/completions",
                   "invalid_request_error", param);
    }
    auto text =
        chat::RenderConversation(**chat_template, BaseChatInputs(tok), api.messages, api.tools);
    if (!text.ok()) return bad(text.status(), "the chat template rejected the messages: ");
    EncodeOptions eo;
    eo.add_bos = false;  // the template writes BOS itself where the model wants it
    auto ids = tok.Encode(*text, eo);
    if (!ids.ok()) return bad(ids.status());
    *prompt = std::move(*ids);
  } else if (api.prompt_is_ids) {
    auto text = tok.Decode(api.prompt_ids);
    if (!text.ok()) return bad(text.status());
    *prompt = api.prompt_ids;
    api.prompt_text = *text;
  } else {
    auto ids = tok.Encode(api.prompt_text);
    if (!ids.ok()) return bad(ids.status());
    *prompt = std::move(*ids);
  }
  return std::nullopt;
}

std::optional<ApiError> Server::Impl::CheckContext(Call& call, int64_t n_prompt) {
  SamplingParams& sampling = call.api.sampling;
  const int64_t context = call.lease.scheduler().context_length();
  if (sampling.max_tokens < 0) {
    sampling.max_tokens = static_cast<int32_t>(std::max<int64_t>(0, context - n_prompt));
  }
  if (n_prompt + sampling.max_tokens <= context && n_prompt < context) return std::nullopt;
  const char* param = call.api.chat ? "messages" : "prompt";
  return Error(400,
               absl::StrCat("This model's maximum context length is ", context,
                            " tokens. However, you requested ", n_prompt + sampling.max_tokens,
                            " tokens (", n_prompt, " in the ", param, ", ", sampling.max_tokens,
                            " in the completion). Please reduce the length."),
               "invalid_request_error", param);
}

void Server::Impl::PrepareDeltaEvents(Call& call) {
  // Each choice's text-delta event, rendered once around a marker and cut there.
  const Tokenizer& tok = call.lease.model().tokenizer();
  const std::string marker = "\x01libinfer-delta\x01";
  const std::string quoted = JsonString(marker);
  for (int i = 0; i < call.api.n; ++i) {
    const std::string whole =
        Sse(serve::ChunkJson(call.api, call.id, call.created, call.lease.model_name(), i, nullptr,
                             marker, nullptr, nullptr, tok));
    const size_t at = whole.find(quoted);
    call.delta_sse.emplace_back(whole.substr(0, at), whole.substr(at + quoted.size()));
  }
}

Request Server::Impl::ChoiceRequest(const std::shared_ptr<Call>& call, int i,
                                    const std::vector<TokenId>& prompt) {
  const serve::CompletionRequest& api = call->api;
  Request r;
  r.prompt = prompt;
  r.sampling = api.sampling;
  if (api.sampling.seed && api.n > 1) r.sampling.seed = *api.sampling.seed + i;
  r.stop = api.stop;
  r.id = absl::StrCat(call->id, "-", i);
  r.user = api.user;
  r.priority = api.priority;
  std::weak_ptr<Call> weak = call;
  if (api.stream && api.tools.active()) {
    // Content streams up to where a tool call may begin; calls go out whole at the end.
    r.on_event = [this, weak, i](const StreamEvent& e) {
      auto c = weak.lock();
      if (!c || e.text.empty()) return;
      std::string& text = c->tool_text[static_cast<size_t>(i)];
      size_t& sent = c->tool_sent[static_cast<size_t>(i)];
      text += e.text;
      const size_t ready = chat::StreamableContent(text);
      if (ready <= sent || !StartStreamOnce(*c)) return;
      c->out->WriteChunk(Sse(serve::ChunkJson(c->api, c->id, c->created, c->lease.model_name(), i,
                                              nullptr, text.substr(sent, ready - sent), &e.token,
                                              nullptr, c->lease.model().tokenizer())));
      sent = ready;
    };
  } else if (api.stream) {
    r.on_event = [this, weak, i](const StreamEvent& e) {
      auto c = weak.lock();
      if (!c || e.text.empty() || !StartStreamOnce(*c)) return;
      if (!c->api.logprobs) {
        // The common case: only the text differs from one chunk to the next.
        const auto& [head, tail] = c->delta_sse[static_cast<size_t>(i)];
        const std::string text = JsonString(e.text);  // a token's text: usually no allocation
        c->out->WriteChunk({head, text, tail});
        return;
      }
      c->out->WriteChunk(
          Sse(serve::ChunkJson(c->api, c->id, c->created, c->lease.model_name(), i, nullptr, e.text,
                               &e.token, nullptr, c->lease.model().tokenizer())));
    };
  }
  r.on_finish = [this, weak, i](const RequestResult& result) {
    auto c = weak.lock();
    if (!c) return;
    std::lock_guard<std::mutex> lock(c->mu);
    serve::ChoiceResult& choice = c->choices[i];
    choice.text = result.text;
    choice.tokens = result.tokens;
    choice.finish_reason = result.finish_reason;
    if (c->api.tools.active() && result.finish_reason == FinishReason::kStop) {
      chat::ExtractedCalls extracted = chat::ExtractToolCalls(result.text);
      choice.text = std::move(extracted.content);
      choice.tool_calls = std::move(extracted.calls);
    }
    c->usage.completion_tokens += result.usage.completion_tokens;
    if (i == 0) c->usage.cached_tokens = result.usage.cached_prompt_tokens;
    if (result.finish_reason == FinishReason::kError) {
      c->failed = true;
      c->error_code = result.status.code();
      c->error_message = std::string(result.status.message());
    }
    if (c->api.stream && result.finish_reason != FinishReason::kError && StartStreamOnce(*c)) {
      if (c->api.tools.active()) {
        // The content held back (all the text when no call came), then the calls, whole.
        const std::string& content =
            choice.tool_calls.empty() ? c->tool_text[static_cast<size_t>(i)] : choice.text;
        const size_t sent = c->tool_sent[static_cast<size_t>(i)];
        const std::string rest = sent < content.size() ? content.substr(sent) : std::string();
        if (!rest.empty()) {
          c->out->WriteChunk(
              Sse(serve::ChunkJson(c->api, c->id, c->created, c->lease.model_name(), i, nullptr,
                                   rest, nullptr, nullptr, c->lease.model().tokenizer())));
        }
        if (!choice.tool_calls.empty()) {
          c->out->WriteChunk(Sse(serve::ToolCallsChunkJson(
              c->api, c->id, c->created, c->lease.model_name(), i, choice.tool_calls)));
        }
      }
      c->out->WriteChunk(Sse(serve::ChunkJson(
          c->api, c->id, c->created, c->lease.model_name(), i, nullptr, "", nullptr,
          serve::ApiFinishReason(result.finish_reason, !choice.tool_calls.empty()),
          c->lease.model().tokenizer())));
    }
    if (++c->finished == static_cast<int>(c->choices.size())) CallDone(*c);
  };
  return r;
}

void Server::Impl::SubmitChoices(const std::shared_ptr<Call>& call,
                                 const std::vector<TokenId>& prompt) {
  ++in_flight_;
  {
    // Kept alive until answered: the handles' callbacks hold only weak references.
    std::lock_guard<std::mutex> calls_lock(done_mu_);
    live_calls_.push_back(call);
  }
  {
    std::lock_guard<std::mutex> lock(call->mu);
    for (int i = 0; i < call->api.n; ++i) {
      auto handle = call->lease.scheduler().Submit(ChoiceRequest(call, i, prompt));
      if (!handle.ok()) return RefuseCall(*call, handle.status());
      call->handles.push_back(*handle);
    }
  }
  // The client going away cancels every choice.
  std::weak_ptr<Call> weak = call;
  call->out->OnDisconnect([weak] {
    if (auto c = weak.lock()) {
      std::vector<RequestHandle> handles;
      {
        std::lock_guard<std::mutex> lock(c->mu);
        handles = c->handles;
      }
      for (RequestHandle& h : handles) h.Cancel();
    }
  });
}

void Server::Impl::RefuseCall(Call& call, const absl::Status& refused) {
  // Cancel what this call already started; answer with the Scheduler's reason. Runs with
  // call.mu held.
  for (RequestHandle& h : call.handles) h.Cancel();
  const absl::StatusCode code = refused.code();
  // A full queue (ResourceExhausted) and a scheduler shutting down answer 503: come back.
  const int status =
      code == absl::StatusCode::kResourceExhausted || code == absl::StatusCode::kUnavailable ? 503
      : code == absl::StatusCode::kInvalidArgument                                           ? 400
                                                                                             : 500;
  call.failed = true;
  call.error_message = std::string(refused.message());
  const ApiError e =
      Error(status, call.error_message, status == 400 ? "invalid_request_error" : "server_error");
  const int64_t n_prompt = call.usage.prompt_tokens;
  if (call.api.stream && !ClaimErrorAnswer(call)) {
    call.out->WriteChunk(Sse(serve::ErrorJson(e)));
    call.out->WriteChunk("data: [DONE]\n\n");
    call.out->EndStream();
    Record(call.http, call.id, status, true, call.start, n_prompt, 0);
  } else {
    Answer(call.http, *call.out, ErrorResponse(e), call.start, n_prompt, 0, call.id);
  }
  // Choices already submitted finish as cancelled, unseen: the call is dropped here.
  {
    std::lock_guard<std::mutex> calls_lock(done_mu_);
    std::erase_if(live_calls_, [&](const std::shared_ptr<Call>& p) { return p.get() == &call; });
  }
  --in_flight_;
  done_cv_.notify_all();
}

bool Server::Impl::StartStreamOnce(Call& c) {
  std::lock_guard<std::mutex> lock(c.stream_mu);
  if (c.stream_state == Call::StreamState::kStreaming) return true;
  if (c.stream_state == Call::StreamState::kAnsweredWithError) return false;
  c.stream_state = Call::StreamState::kStreaming;
  c.out->StartStream(200, "text/event-stream", {{"Cache-Control", "no-cache"}});
  if (c.api.chat) {
    const std::string role = "assistant";
    for (int i = 0; i < c.api.n; ++i) {
      c.out->WriteChunk(Sse(serve::ChunkJson(c.api, c.id, c.created, c.lease.model_name(), i, &role,
                                             "", nullptr, nullptr, c.lease.model().tokenizer())));
    }
  }
  return true;
}

bool Server::Impl::ClaimErrorAnswer(Call& c) {
  std::lock_guard<std::mutex> lock(c.stream_mu);
  if (c.stream_state == Call::StreamState::kStreaming) return false;
  c.stream_state = Call::StreamState::kAnsweredWithError;
  return true;
}

void Server::Impl::CallDone(Call& c) {
  // Runs on the Scheduler's thread with c.mu held.
  const Tokenizer& tok = c.lease.model().tokenizer();
  const std::string& model_name = c.lease.model_name();
  int status = 200;
  const int error_status = c.error_code == absl::StatusCode::kUnavailable ||
                                   c.error_code == absl::StatusCode::kDeadlineExceeded
                               ? 503
                               : 500;
  if (c.api.stream && c.failed && ClaimErrorAnswer(c)) {
    // Refused before it started (a queue timeout): a plain error response.
    INFER_LOG(kWarning, "%s: %s", c.id, c.error_message);
    Answer(c.http, *c.out, ErrorResponse(Error(error_status, c.error_message, "server_error")),
           c.start, c.usage.prompt_tokens, c.usage.completion_tokens, c.id);
  } else if (c.api.stream) {
    if (!c.failed) (void)StartStreamOnce(c);
    if (c.failed) {
      c.out->WriteChunk(
          Sse(serve::ErrorJson(Error(error_status, c.error_message, "server_error"))));
      status = error_status;
    } else if (c.api.include_usage) {
      c.out->WriteChunk(Sse(serve::UsageChunkJson(c.api, c.id, c.created, model_name, c.usage)));
    }
    c.out->WriteChunk("data: [DONE]\n\n");
    c.out->EndStream();
    Record(c.http, c.id, status, true, c.start, c.usage.prompt_tokens, c.usage.completion_tokens);
  } else {
    HttpResponse r;
    if (c.failed) {
      INFER_LOG(kError, "%s: %s", c.id, c.error_message);
      r = ErrorResponse(Error(error_status, c.error_message, "server_error"));
    } else {
      r = JsonResponse(
          200, serve::CompletionJson(c.api, c.id, c.created, model_name, c.choices, c.usage, tok));
    }
    Answer(c.http, *c.out, std::move(r), c.start, c.usage.prompt_tokens, c.usage.completion_tokens,
           c.id);
  }
  // The answer is complete: the replica may drain from now on.
  c.lease.Release();
  --in_flight_;
  {
    std::lock_guard<std::mutex> lock(done_mu_);
    std::erase_if(live_calls_, [&](const std::shared_ptr<Call>& p) { return p.get() == &c; });
  }
  done_cv_.notify_all();
}

}  // namespace infer
