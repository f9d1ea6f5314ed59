// Server::Impl: the state every route family shares and the helpers they answer with. The
// routes live by family: server.cc (dispatch, the bearer check, health, shutdown),
// completion_routes.cc (/v1/chat/completions, /v1/completions, /v1/models), auth_routes.cc
// (/token, /v1/admin/users, /v1/admin/reload), model_routes.cc (the model set's admin routes)
// and metrics_routes.cc (/metrics).
#ifndef INFER_SERVE_SERVER_IMPL_H_
#define INFER_SERVE_SERVER_IMPL_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "infer/server.h"
#include "libinfer/chat/chat_template.h"
#include "libinfer/serve/http_server.h"
#include "libinfer/serve/openai_api.h"
#include "libinfer/serve/routes.h"
#include "libinfer/serve/work_queue.h"
#include "nlohmann/json.hpp"

namespace infer {
namespace serve {

using Clock = std::chrono::steady_clock;

int64_t UnixSeconds();
// prefix + 32 random hex digits.
std::string RandomId(const char* prefix);
HttpResponse JsonResponse(int status, const nlohmann::json& body);
// 429 and 503 carry Retry-After: `retry_after_seconds`.
HttpResponse ErrorResponse(const ApiError& e, int64_t retry_after_seconds = 1);
ApiError Error(int status, std::string message, std::string type, std::string param = "",
               std::string code = "");
// The peer's address without the port ("10.0.0.7:51234" -> "10.0.0.7", "::1:51234" -> "::1"):
// the failed-login limit is per address, whatever port a client comes from.
std::string ClientIp(const std::string& client_address);
// What a request's log line needs (method, path, the client's address), without its body or
// headers: work answered later carries this, never the body (a login's holds the password).
HttpRequest ForLogLine(const HttpRequest& req);
bool IsApiPath(const std::string& path);
bool IsAdminPath(const std::string& path);
// The credential of an `Authorization: Bearer <credential>` header (scheme case-insensitive);
// empty when the header is absent or has another shape.
std::string BearerCredential(const HttpRequest& req);
// 401 as RFC 6750 asks: a Bearer challenge, with error="invalid_token" when a token was
// presented and refused.
HttpResponse Unauthorized(const std::string& message, const char* code, bool invalid_token);
// `text` as a JSON string literal, escaped exactly as the chunks' JSON is.
std::string JsonString(const std::string& text);
// One server-sent event carrying `chunk`.
std::string Sse(const nlohmann::json& chunk);

}  // namespace serve

class Server::Impl {
 public:
  Impl(ModelSet& models, const ServerOptions& options) : models_(models), options_(options) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  absl::Status Init();
  void Handle(const HttpRequest& req, std::shared_ptr<serve::Responder> out);
  void Shutdown(std::chrono::milliseconds timeout);

  // Start(Model&, Scheduler&, ...): the set holding the adopted model. First: destroyed last.
  std::unique_ptr<ModelSet> owned_models_;
  std::unique_ptr<serve::HttpServer> http_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<uint64_t> seed_counter_{0};
  std::mutex routes_mu_;
  std::map<std::pair<std::string, std::string>, RouteHandler> routes_;

 private:
  struct Call;
  // Counts the status and logs the request's line; then Answer sends the whole answer.
  void Record(const HttpRequest& req, const std::string& id, int status, bool stream,
              serve::Clock::time_point start, int64_t prompt_tokens, int64_t completion_tokens);
  void Answer(const HttpRequest& req, serve::Responder& out, HttpResponse r,
              serve::Clock::time_point start, int64_t prompt_tokens = 0,
              int64_t completion_tokens = 0, const std::string& id = "-");
  void Completion(const HttpRequest& req, std::shared_ptr<serve::Responder> out, bool chat);
  // The completion's stages (completion_routes.cc); each returns the error to answer with.
  std::optional<serve::ApiError> ParseCall(const std::string& body, bool chat, Call& call);
  std::optional<serve::ApiError> PromptTokens(Call& call, std::vector<TokenId>* prompt);
  std::optional<serve::ApiError> CheckContext(Call& call, int64_t n_prompt);
  void PrepareDeltaEvents(Call& call);
  Request ChoiceRequest(const std::shared_ptr<Call>& call, int i,
                        const std::vector<TokenId>& prompt);
  void SubmitChoices(const std::shared_ptr<Call>& call, const std::vector<TokenId>& prompt);
  // A choice the Scheduler refused: cancels the others and answers with the reason.
  void RefuseCall(Call& call, const absl::Status& refused);
  HttpResponse Models() const;
  // The chat page or one of its files (404 when ServerOptions::chat_page is off).
  HttpResponse UiFile(const std::string& path) const;
  HttpResponse ModelObject(const std::string& name) const;
  HttpResponse Metrics();
  // POST /token: parses the form here, checks the password on logins_.
  void Login(const HttpRequest& req, const std::shared_ptr<serve::Responder>& out,
             serve::Clock::time_point start);
  HttpResponse AdminUsers() const;
  // /health and /ready.
  void Probe(const HttpRequest& req, serve::Responder& out, serve::RouteId id,
             serve::Clock::time_point start);
  // With an AuthStore: the answer refusing `req` (401, 403), or nullopt when it may go on.
  // `id`: the built-in route `req` matched, if any.
  std::optional<HttpResponse> Authorize(const HttpRequest& req, std::optional<serve::RouteId> id);
  // A built-in route that answers `req.method`.
  void Dispatch(const serve::RouteMatch& route, const HttpRequest& req,
                std::shared_ptr<serve::Responder> out, serve::Clock::time_point start);
  // The model set's admin routes (model_routes.cc).
  void ModelAdmin(const serve::RouteMatch& route, const HttpRequest& req,
                  const std::shared_ptr<serve::Responder>& out, serve::Clock::time_point start);
  HttpResponse AdminDevices() const;
  HttpResponse AdminModels() const;
  HttpResponse AdminReload();
  bool HasHostRoute(const std::string& method, const std::string& path);
  void CountStatus(int status);
  void CallDone(Call& call);
  // Streams: sends the headers (and a chat's role chunks) once; false when the call was
  // answered with an error response instead (ClaimErrorAnswer).
  bool StartStreamOnce(Call& call);
  // Streams: true when the stream has not started, and now never will: the caller answers with
  // a plain error response.
  bool ClaimErrorAnswer(Call& call);

  ModelSet& models_;
  ServerOptions options_;
  std::unique_ptr<serve::WorkQueue> logins_;   // with options_.auth
  std::unique_ptr<serve::WorkQueue> changes_;  // the model set's changes, one at a time
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::vector<std::shared_ptr<Call>> live_calls_;  // under done_mu_: calls being answered
  std::mutex status_mu_;
  std::map<int, int64_t> requests_by_status_;
};

// One completion request in flight: its choices' Scheduler requests and what was produced.
struct Server::Impl::Call {
  serve::CompletionRequest api;
  // The replica answering, held until the answer is complete (CallDone).
  ReplicaLease lease;
  std::shared_ptr<serve::Responder> out;
  HttpRequest http;  // method/path/client, for the log line
  std::string id;
  int64_t created = 0;
  serve::Clock::time_point start;
  std::mutex mu;
  std::vector<RequestHandle> handles;
  std::vector<serve::ChoiceResult> choices;
  // Per choice, the SSE event of a text delta before and after the quoted text (streaming
  // without logprobs).
  std::vector<std::pair<std::string, std::string>> delta_sse;
  // Per choice, with tools: the text so far and how much of it went out as content (a tool
  // call is held back until it is whole).
  std::vector<std::string> tool_text;
  std::vector<size_t> tool_sent;
  serve::Usage usage;
  int finished = 0;
  bool failed = false;
  std::string error_message;
  // The engine's error: Unavailable / DeadlineExceeded (a lost cluster rank, a queue timeout)
  // answer 503.
  absl::StatusCode error_code = absl::StatusCode::kInternal;
  // A stream's headers go out with its first event (or its end), not while it waits in the
  // queue: a request refused before it starts (queue full, queue timeout) gets a plain 503 with
  // Retry-After, which a client or a load balancer can retry. Under stream_mu.
  enum class StreamState { kNotStarted, kStreaming, kAnsweredWithError };
  std::mutex stream_mu;
  StreamState stream_state = StreamState::kNotStarted;
};

}  // namespace infer

#endif  // INFER_SERVE_SERVER_IMPL_H_
