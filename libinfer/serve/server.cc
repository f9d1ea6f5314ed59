// Server: the OpenAI routes over HttpServer, the Scheduler and the model's chat template.
//
// A completion request becomes one Call: its n choices are n Scheduler requests whose events
// arrive on the Scheduler's thread and are turned into SSE chunks (streaming) or gathered into
// one JSON answer. A client that disconnects cancels its Call's requests at once.
#include "infer/server.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libinfer/auth/login_form.h"
#include "libinfer/serve/http_server.h"
#include "libinfer/serve/openai_api.h"
#include "libinfer/serve/work_queue.h"
#include "libinfer/tokenizer/chat_template.h"
#include "libinfer/util/logging.h"
#include "nlohmann/json.hpp"

namespace infer {
namespace {

using nlohmann::json;
using serve::ApiError;
using serve::Responder;
using Clock = std::chrono::steady_clock;

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string RandomId(const char* prefix) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrFormat("%s%016x%016x", prefix, rng(), rng());
}

HttpResponse JsonResponse(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

// 429 and 503 carry Retry-After: `retry_after_seconds`.
HttpResponse ErrorResponse(const ApiError& e, int64_t retry_after_seconds = 1) {
  HttpResponse r;
  r.status = e.status;
  r.body = serve::ErrorBody(e);
  if (e.status == 429 || e.status == 503) {
    r.headers.push_back({"Retry-After", absl::StrCat(retry_after_seconds)});
  }
  return r;
}

ApiError Error(int status, std::string message, std::string type, std::string param = "",
               std::string code = "") {
  ApiError e;
  e.status = status;
  e.message = std::move(message);
  e.type = std::move(type);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

// The peer's address without the port ("10.0.0.7:51234" -> "10.0.0.7", "::1:51234" -> "::1"):
// the failed-login limit is per address, whatever port a client comes from.
std::string ClientIp(const std::string& client_address) {
  const size_t colon = client_address.rfind(':');
  return colon == std::string::npos ? client_address : client_address.substr(0, colon);
}

constexpr std::string_view kAdminPrefix = "/v1/admin/";

bool IsApiPath(const std::string& path) { return path == "/v1" || path.rfind("/v1/", 0) == 0; }
bool IsAdminPath(const std::string& path) { return path.rfind(kAdminPrefix, 0) == 0; }

// The credential of an `Authorization: Bearer <credential>` header (scheme case-insensitive);
// empty when the header is absent or has another shape.
std::string BearerCredential(const HttpRequest& req) {
  const std::string h = req.Header("Authorization");
  constexpr std::string_view kScheme = "bearer ";
  if (h.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(absl::string_view(h.data(), kScheme.size()),
                              absl::string_view(kScheme.data(), kScheme.size()))) {
    return "";
  }
  size_t begin = kScheme.size();
  while (begin < h.size() && h[begin] == ' ') ++begin;
  std::string credential = h.substr(begin);
  if (credential.find_first_of(" \t") != std::string::npos) return "";
  return credential;
}

// 401 as RFC 6750 asks: a Bearer challenge, with error="invalid_token" when a token was
// presented and refused.
HttpResponse Unauthorized(const std::string& message, const char* code, bool invalid_token) {
  HttpResponse r = ErrorResponse(Error(401, message, "invalid_request_error", "", code));
  r.headers.push_back(
      {"WWW-Authenticate", invalid_token ? "Bearer realm=\"libinfer\", error=\"invalid_token\""
                                         : "Bearer realm=\"libinfer\""});
  return r;
}

// `text` as a JSON string literal, escaped exactly as the chunks' JSON is.
std::string JsonString(const std::string& text) {
  return json(text).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string Sse(const json& chunk) {
  return absl::StrCat("data: ", chunk.dump(-1, ' ', false, json::error_handler_t::replace), "\n\n");
}

void AppendHistogram(std::string* out, const std::string& name, const std::string& help,
                     const Histogram& h) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " histogram\n");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    absl::StrAppend(out, name, "_bucket{le=\"", h.bounds[i], "\"} ", cumulative, "\n");
  }
  cumulative += h.counts.empty() ? 0 : h.counts.back();
  absl::StrAppend(out, name, "_bucket{le=\"+Inf\"} ", cumulative, "\n", name, "_sum ", h.sum, "\n",
                  name, "_count ", h.count, "\n");
}

}  // namespace

class Server::Impl {
 public:
  Impl(Model& model, Scheduler& scheduler, const ServerOptions& options)
      : model_(model), scheduler_(scheduler), options_(options) {}

  absl::Status Init();
  void Handle(const HttpRequest& req, std::shared_ptr<Responder> out);
  void Shutdown(std::chrono::milliseconds timeout);

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
              Clock::time_point start, int64_t prompt_tokens, int64_t completion_tokens);
  void Answer(const HttpRequest& req, Responder& out, HttpResponse r, Clock::time_point start,
              int64_t prompt_tokens = 0, int64_t completion_tokens = 0,
              const std::string& id = "-");
  void Completion(const HttpRequest& req, std::shared_ptr<Responder> out, bool chat);
  // The template inputs every chat request shares: the special tokens, the generation prompt.
  ChatTemplateInputs ChatInputs() const;
  HttpResponse Models() const;
  HttpResponse ModelObject() const;
  HttpResponse Metrics();
  // POST /token: parses the form here, checks the password on logins_.
  void Login(const HttpRequest& req, std::shared_ptr<Responder> out, Clock::time_point start);
  HttpResponse AdminUsers() const;
  HttpResponse AdminReload();
  bool HasHostRoute(const std::string& method, const std::string& path);
  void CountStatus(int status);
  void CallDone(Call& call);

  Model& model_;
  Scheduler& scheduler_;
  ServerOptions options_;
  std::string model_name_;
  std::optional<ChatTemplate> chat_template_;
  std::unique_ptr<serve::WorkQueue> logins_;  // with options_.auth
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::vector<std::shared_ptr<Call>> live_calls_;  // under done_mu_: calls being answered
  std::mutex status_mu_;
  std::map<int, int64_t> requests_by_status_;
};

// One completion request in flight: its choices' Scheduler requests and what was produced.
struct Server::Impl::Call {
  serve::CompletionRequest api;
  std::shared_ptr<Responder> out;
  HttpRequest http;  // method/path/client, for the log line
  std::string id;
  int64_t created = 0;
  Clock::time_point start;
  std::mutex mu;
  std::vector<RequestHandle> handles;
  std::vector<serve::ChoiceResult> choices;
  // Per choice, the SSE event of a text delta before and after the quoted text (streaming
  // without logprobs).
  std::vector<std::pair<std::string, std::string>> delta_sse;
  serve::Usage usage;
  int finished = 0;
  bool failed = false;
  std::string error_message;
  // The engine's error: Unavailable / DeadlineExceeded (a lost cluster rank) answer 503.
  absl::StatusCode error_code = absl::StatusCode::kInternal;
};

absl::Status Server::Impl::Init() {
  model_name_ = options_.served_model_name;
  if (model_name_.empty()) {
    model_name_ = std::filesystem::path(model_.info().path).filename().string();
    if (const size_t dot = model_name_.rfind('.');
        dot != std::string::npos && dot > 0 && model_name_.substr(dot) == ".gguf") {
      model_name_ = model_name_.substr(0, dot);
    }
  }
  if (!model_.chat_template().empty()) {
    auto parsed = ChatTemplate::Parse(model_.chat_template());
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(model_.info().path,
                       ": the model's chat template cannot be used: ", parsed.status().message()));
    }
    chat_template_ = std::move(*parsed);
    // A template that parses can still fail on every conversation (an undefined variable, a
    // raise_exception on an ordinary turn order): find out now, not at the first request.
    ChatTemplateInputs trial = ChatInputs();
    trial.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", "Hello"}},
                                                    {{"role", "assistant"}, {"content", "Hi!"}},
                                                    {{"role", "user"}, {"content", "Thanks"}}});
    if (auto text = chat_template_->RenderChat(trial); !text.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(model_.info().path,
                       ": the model's chat template fails on a user/assistant/user "
                       "conversation: ",
                       text.status().message()));
    }
  }
  if (options_.auth == nullptr && !options_.allow_unauthenticated &&
      !serve::IsLoopbackHost(options_.host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "refusing to serve on ", options_.host,
        " without authentication: configure users (USER_LIST in the environment, or a users "
        "file) or API keys, bind a loopback address such as 127.0.0.1, or allow it explicitly "
        "(ServerOptions::allow_unauthenticated, `--allow-unauthenticated`)"));
  }
  if (options_.auth != nullptr) {
    logins_ = std::make_unique<serve::WorkQueue>(options_.login_threads,
                                                 static_cast<size_t>(options_.max_pending_logins));
  }
  serve::HttpLimits limits;
  limits.max_connections = options_.max_connections;
  limits.max_header_bytes = options_.max_header_bytes;
  limits.max_body_bytes = options_.max_body_bytes;
  limits.request_timeout = options_.request_timeout;
  limits.stream_flush_interval = options_.stream_flush_interval;
  auto http =
      serve::HttpServer::Start(options_.host, options_.port, options_.io_threads, limits,
                               [this](const HttpRequest& req, std::shared_ptr<Responder> out) {
                                 Handle(req, std::move(out));
                               });
  if (!http.ok()) return http.status();
  http_ = std::move(*http);
  return absl::OkStatus();
}

ChatTemplateInputs Server::Impl::ChatInputs() const {
  const Tokenizer& tok = model_.tokenizer();
  ChatTemplateInputs inputs;
  inputs.add_generation_prompt = true;
  if (tok.bos_id() >= 0) inputs.bos_token = std::string(tok.TokenText(tok.bos_id()));
  if (tok.eos_id() >= 0) inputs.eos_token = std::string(tok.TokenText(tok.eos_id()));
  return inputs;
}

void Server::Impl::CountStatus(int status) {
  std::lock_guard<std::mutex> lock(status_mu_);
  ++requests_by_status_[status];
}

void Server::Impl::Record(const HttpRequest& req, const std::string& id, int status, bool stream,
                          Clock::time_point start, int64_t prompt_tokens,
                          int64_t completion_tokens) {
  CountStatus(status);
  if (options_.log_requests && req.path != "/health" && req.path != "/ready" &&
      req.path != "/metrics") {
    INFER_LOG(kInfo, "%s %s %s %s -> %d%s, %d+%d tokens, %.3f s", req.client_address, id,
              req.method, req.path, status, stream ? " (stream)" : "", prompt_tokens,
              completion_tokens, std::chrono::duration<double>(Clock::now() - start).count());
  }
}

void Server::Impl::Answer(const HttpRequest& req, Responder& out, HttpResponse r,
                          Clock::time_point start, int64_t prompt_tokens, int64_t completion_tokens,
                          const std::string& id) {
  Record(req, id, r.status, false, start, prompt_tokens, completion_tokens);
  out.Send(std::move(r));
}

void Server::Impl::Handle(const HttpRequest& req, std::shared_ptr<Responder> out) {
  const Clock::time_point start = Clock::now();
  const std::string& p = req.path;
  const absl::Status health = options_.health_check && (p == "/health" || p == "/ready")
                                  ? options_.health_check()
                                  : absl::OkStatus();
  if (p == "/health") {
    if (!health.ok()) {
      return Answer(
          req, *out,
          JsonResponse(503, {{"status", "unhealthy"}, {"error", std::string(health.message())}}),
          start);
    }
    return Answer(req, *out, JsonResponse(200, {{"status", "ok"}}), start);
  }
  if (p == "/ready") {
    const bool ok = ready_.load() && !stopping_.load() && health.ok();
    return Answer(req, *out, JsonResponse(ok ? 200 : 503, {{"status", ok ? "ready" : "not ready"}}),
                  start);
  }
  if (stopping_.load()) {
    return Answer(req, *out,
                  ErrorResponse(Error(503, "the server is shutting down", "server_error")), start);
  }
  if (options_.auth != nullptr) {
    if (p == "/token" && req.method == "POST") return Login(req, std::move(out), start);
    if (IsApiPath(p) || (p == "/metrics" && options_.metrics_require_auth)) {
      const std::string credential = BearerCredential(req);
      if (credential.empty()) {
        const bool sent = !req.Header("Authorization").empty();
        return Answer(req, *out,
                      Unauthorized(sent ? "the Authorization header must be `Bearer <token>`"
                                        : "missing `Authorization: Bearer <token>` (log in "
                                          "with POST /token, or use an API key)",
                                   sent ? "invalid_api_key" : "missing_api_key", sent),
                      start);
      }
      auto claims = options_.auth->Authenticate(credential);
      if (!claims.ok()) {
        return Answer(req, *out,
                      Unauthorized(std::string(claims.status().message()), "invalid_api_key", true),
                      start);
      }
      // Built-in routes by the role policy; host routes under /v1/admin/ for admins only.
      const bool host_route = HasHostRoute(req.method, p);
      const bool allowed =
          p == "/metrics" || IsRouteAllowed(claims->role, p) || (!IsAdminPath(p) && host_route);
      if (!allowed && (IsAdminPath(p) || host_route)) {
        return Answer(
            req, *out,
            ErrorResponse(Error(
                403,
                absl::StrCat("role '", std::string(RoleName(claims->role)), "' may not use ", p),
                "permission_error", "", "forbidden")),
            start);
      }
      if (p == "/v1/admin/users" && req.method == "GET") {
        return Answer(req, *out, AdminUsers(), start);
      }
      if (p == "/v1/admin/reload" && req.method == "POST") {
        return Answer(req, *out, AdminReload(), start);
      }
    }
  }
  if (p == "/metrics" && req.method == "GET") return Answer(req, *out, Metrics(), start);
  if (p == "/v1/models" && req.method == "GET") return Answer(req, *out, Models(), start);
  if (p.rfind("/v1/models/", 0) == 0 && req.method == "GET") {
    if (p.substr(std::string_view("/v1/models/").size()) == model_name_) {
      return Answer(req, *out, ModelObject(), start);
    }
    return Answer(req, *out,
                  ErrorResponse(Error(
                      404,
                      absl::StrCat("The model `", p.substr(11),
                                   "` does not exist (this server serves `", model_name_, "`)."),
                      "NotFoundError", "model", "model_not_found")),
                  start);
  }
  if ((p == "/v1/chat/completions" || p == "/v1/completions") && req.method == "POST") {
    return Completion(req, std::move(out), p == "/v1/chat/completions");
  }
  {
    std::lock_guard<std::mutex> lock(routes_mu_);
    auto it = routes_.find({req.method, p});
    if (it != routes_.end()) {
      RouteHandler handler = it->second;
      return Answer(req, *out, handler(req), start);
    }
  }
  // A known path with another method: 405 with Allow.
  std::string allow;
  if (p == "/v1/chat/completions" || p == "/v1/completions") allow = "POST";
  if (p == "/v1/models" || p == "/metrics" || p.rfind("/v1/models/", 0) == 0) allow = "GET";
  if (options_.auth != nullptr && p == "/v1/admin/users") allow = "GET";
  if (options_.auth != nullptr && (p == "/v1/admin/reload" || p == "/token")) allow = "POST";
  if (!allow.empty()) {
    HttpResponse r = ErrorResponse(Error(
        405, absl::StrCat("method ", req.method, " is not allowed on ", p, " (use ", allow, ")"),
        "invalid_request_error"));
    r.headers.push_back({"Allow", allow});
    return Answer(req, *out, std::move(r), start);
  }
  Answer(req, *out,
         ErrorResponse(Error(404, absl::StrCat("no route ", req.method, " ", p),
                             "invalid_request_error", "", "not_found")),
         start);
}

namespace {

// `context`: the context served (the Scheduler's), which the KV cache may hold below the model's.
json ModelJson(const std::string& name, const ModelInfo& info, int64_t context) {
  return {{"id", name},
          {"object", "model"},
          {"created", UnixSeconds()},
          {"owned_by", "libinfer"},
          {"root", info.path},
          {"max_model_len", context}};
}

}  // namespace

HttpResponse Server::Impl::Models() const {
  return JsonResponse(
      200, {{"object", "list"},
            {"data",
             json::array({ModelJson(model_name_, model_.info(), scheduler_.context_length())})}});
}

HttpResponse Server::Impl::ModelObject() const {
  return JsonResponse(200, ModelJson(model_name_, model_.info(), scheduler_.context_length()));
}

bool Server::Impl::HasHostRoute(const std::string& method, const std::string& path) {
  std::lock_guard<std::mutex> lock(routes_mu_);
  return routes_.count({method, path}) > 0;
}

void Server::Impl::Login(const HttpRequest& req, std::shared_ptr<Responder> out,
                         Clock::time_point start) {
  auto form = auth::ParseLoginForm(req.Header("Content-Type"), req.body);
  if (!form.ok()) {
    const absl::StatusCode code = form.status().code();
    const int status = code == absl::StatusCode::kUnimplemented       ? 415
                       : code == absl::StatusCode::kResourceExhausted ? 413
                                                                      : 400;
    return Answer(
        req, *out,
        ErrorResponse(Error(status, absl::StrCat("POST /token: ", form.status().message()),
                            "invalid_request_error")),
        start);
  }
  // What the log line needs travels with the job (not the body: it holds the password).
  HttpRequest http;
  http.method = req.method;
  http.path = req.path;
  http.client_address = req.client_address;
  auto job = [this, out, start, form = std::move(*form), http = std::move(http)] {
    auto token = options_.auth->Login(form.username, form.password, ClientIp(http.client_address));
    if (token.ok()) {
      HttpResponse r = JsonResponse(200, {{"access_token", token->access_token},
                                          {"token_type", token->token_type},
                                          {"expires_in", token->expires_in}});
      // RFC 6749 section 5.1: token answers are never cached.
      r.headers.push_back({"Cache-Control", "no-store"});
      r.headers.push_back({"Pragma", "no-cache"});
      return Answer(http, *out, std::move(r), start);
    }
    const absl::Status& st = token.status();
    if (const std::optional<int64_t> wait = RetryAfterSeconds(st)) {
      return Answer(http, *out,
                    ErrorResponse(Error(429, std::string(st.message()), "rate_limit_error", "",
                                        "rate_limit_exceeded"),
                                  *wait),
                    start);
    }
    if (st.code() == absl::StatusCode::kUnauthenticated) {
      return Answer(http, *out,
                    Unauthorized(std::string(st.message()), "invalid_credentials", false), start);
    }
    INFER_LOG(kError, "POST /token: %s", st.message());
    Answer(http, *out, ErrorResponse(Error(500, "login failed: internal error", "server_error")),
           start);
  };
  if (!logins_->TryPost(std::move(job))) {
    Answer(req, *out, ErrorResponse(Error(503, "too many logins in progress", "server_error")),
           start);
  }
}

HttpResponse Server::Impl::AdminUsers() const {
  json data = json::array();
  for (const UserInfo& u : options_.auth->ListUsers()) {
    data.push_back({{"username", u.username}, {"role", std::string(RoleName(u.role))}});
  }
  return JsonResponse(200, {{"object", "list"}, {"data", std::move(data)}});
}

HttpResponse Server::Impl::AdminReload() {
  const absl::Status s = options_.auth->Reload();
  if (!s.ok()) {
    return ErrorResponse(Error(
        400, absl::StrCat("reload refused, the users loaded before stay in use: ", s.message()),
        "invalid_request_error", "", "reload_failed"));
  }
  return JsonResponse(200, {{"status", "reloaded"},
                            {"users", static_cast<int64_t>(options_.auth->ListUsers().size())}});
}

HttpResponse Server::Impl::Metrics() {
  const SchedulerStats s = scheduler_.stats();
  std::string out;
  auto gauge = [&](const char* name, const char* help, double v, const char* type = "gauge") {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, " ",
                    v, "\n");
  };
  absl::StrAppend(&out, "# HELP infer_http_requests_total HTTP requests answered, by status.\n",
                  "# TYPE infer_http_requests_total counter\n");
  {
    std::lock_guard<std::mutex> lock(status_mu_);
    for (const auto& [status, n] : requests_by_status_) {
      absl::StrAppend(&out, "infer_http_requests_total{status=\"", status, "\"} ", n, "\n");
    }
  }
  gauge("infer_num_requests_waiting", "Requests waiting to be scheduled.", s.waiting);
  gauge("infer_num_requests_running", "Requests in the running batch.", s.running);
  gauge("infer_num_preemptions_total", "Sequences preempted for KV blocks.", s.preempted_total,
        "counter");
  gauge("infer_kv_cache_blocks_used", "KV cache blocks held by running requests.",
        s.kv_blocks_used);
  gauge("infer_kv_cache_blocks_total", "KV cache blocks.", s.kv_blocks_total);
  gauge("infer_kv_cache_usage_ratio", "Fraction of KV cache blocks in use.",
        s.kv_blocks_total > 0 ? static_cast<double>(s.kv_blocks_used) / s.kv_blocks_total : 0.0);
  gauge("infer_prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.",
        s.prefix_cache_queried_tokens, "counter");
  gauge("infer_prefix_cache_hits_total", "Prompt tokens found in the prefix cache.",
        s.prefix_cache_hit_tokens, "counter");
  gauge("infer_prefix_cache_hit_rate", "Prefix cache hits / queries (tokens).",
        s.prefix_cache_queried_tokens > 0
            ? static_cast<double>(s.prefix_cache_hit_tokens) / s.prefix_cache_queried_tokens
            : 0.0);
  gauge("infer_prompt_tokens_total", "Prompt tokens processed.", s.prompt_tokens_total, "counter");
  gauge("infer_generation_tokens_total", "Tokens generated.", s.generation_tokens_total, "counter");
  absl::StrAppend(&out, "# HELP infer_requests_finished_total Requests finished, by reason.\n",
                  "# TYPE infer_requests_finished_total counter\n");
  for (int r = 0; r < 4; ++r) {
    absl::StrAppend(&out, "infer_requests_finished_total{finish_reason=\"",
                    FinishReasonName(static_cast<FinishReason>(r)), "\"} ", s.requests_finished[r],
                    "\n");
  }
  AppendHistogram(&out, "infer_time_to_first_token_seconds", "Time to the first token.",
                  s.time_to_first_token);
  AppendHistogram(&out, "infer_time_per_output_token_seconds", "Time between output tokens.",
                  s.time_per_output_token);
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(out);
  return r;
}

void Server::Impl::Completion(const HttpRequest& req, std::shared_ptr<Responder> out, bool chat) {
  const Clock::time_point start = Clock::now();
  auto call = std::make_shared<Call>();
  if (auto e = serve::ParseCompletionRequest(req.body, chat, options_.max_n, &call->api)) {
    return Answer(req, *out, ErrorResponse(*e), start);
  }
  serve::CompletionRequest& api = call->api;
  if (!api.model.empty() && api.model != model_name_) {
    return Answer(req, *out,
                  ErrorResponse(Error(
                      404,
                      absl::StrCat("The model `", api.model,
                                   "` does not exist (this server serves `", model_name_, "`)."),
                      "NotFoundError", "model", "model_not_found")),
                  start);
  }
  // The prompt's tokens.
  const Tokenizer& tok = model_.tokenizer();
  std::vector<TokenId> prompt;
  if (chat) {
    if (!chat_template_) {
      return Answer(req, *out,
                    ErrorResponse(Error(400, "this model has no chat template; use /v1/completions",
                                        "invalid_request_error", "messages")),
                    start);
    }
    ChatTemplateInputs inputs = ChatInputs();
    inputs.messages = api.messages;
    auto text = chat_template_->RenderChat(inputs);
    if (!text.ok()) {
      return Answer(req, *out,
                    ErrorResponse(Error(400,
                                        absl::StrCat("the chat template rejected the messages: ",
                                                     text.status().message()),
                                        "invalid_request_error", "messages")),
                    start);
    }
    EncodeOptions eo;
    eo.add_bos = false;  // the template writes BOS itself where the model wants it
    auto ids = tok.Encode(*text, eo);
    if (!ids.ok()) {
      return Answer(req, *out,
                    ErrorResponse(Error(400, std::string(ids.status().message()),
                                        "invalid_request_error", "messages")),
                    start);
    }
    prompt = std::move(*ids);
  } else if (api.prompt_is_ids) {
    prompt = api.prompt_ids;
    auto text = tok.Decode(prompt);
    if (!text.ok()) {
      return Answer(req, *out,
                    ErrorResponse(Error(400, std::string(text.status().message()),
                                        "invalid_request_error", "prompt")),
                    start);
    }
    api.prompt_text = *text;
  } else {
    auto ids = tok.Encode(api.prompt_text);
    if (!ids.ok()) {
      return Answer(req, *out,
                    ErrorResponse(Error(400, std::string(ids.status().message()),
                                        "invalid_request_error", "prompt")),
                    start);
    }
    prompt = std::move(*ids);
  }
  if (!api.sampling.seed && options_.seed) {
    api.sampling.seed = *options_.seed + seed_counter_.fetch_add(static_cast<uint64_t>(api.n));
  }
  const int64_t context = scheduler_.context_length();
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  if (api.sampling.max_tokens < 0) {
    api.sampling.max_tokens = static_cast<int32_t>(std::max<int64_t>(0, context - n_prompt));
  }
  if (n_prompt + api.sampling.max_tokens > context || n_prompt >= context) {
    return Answer(
        req, *out,
        ErrorResponse(Error(
            400,
            absl::StrCat("This model's maximum context length is ", context,
                         " tokens. However, you requested ", n_prompt + api.sampling.max_tokens,
                         " tokens (", n_prompt, " in the ", chat ? "messages" : "prompt", ", ",
                         api.sampling.max_tokens, " in the completion). Please reduce the length."),
            "invalid_request_error", chat ? "messages" : "prompt")),
        start);
  }
  call->out = out;
  call->http.method = req.method;
  call->http.path = req.path;
  call->http.client_address = req.client_address;
  call->id = RandomId(chat ? "chatcmpl-" : "cmpl-");
  call->created = UnixSeconds();
  call->start = start;
  call->choices.resize(static_cast<size_t>(api.n));
  call->usage.prompt_tokens = n_prompt;

  if (api.stream) {
    // Each choice's text-delta event, rendered once around a marker and cut there.
    for (int i = 0; i < api.n; ++i) {
      const std::string marker = "\x01libinfer-delta\x01";
      const std::string whole = Sse(serve::ChunkJson(api, call->id, call->created, model_name_, i,
                                                     nullptr, marker, nullptr, nullptr, tok));
      const std::string quoted = JsonString(marker);
      const size_t at = whole.find(quoted);
      call->delta_sse.emplace_back(whole.substr(0, at), whole.substr(at + quoted.size()));
    }
    out->StartStream(200, "text/event-stream", {{"Cache-Control", "no-cache"}});
    if (chat) {
      const std::string role = "assistant";
      for (int i = 0; i < api.n; ++i) {
        out->WriteChunk(Sse(serve::ChunkJson(api, call->id, call->created, model_name_, i, &role,
                                             "", nullptr, nullptr, tok)));
      }
    }
  }
  ++in_flight_;
  {
    // Kept alive until answered: the handles' callbacks hold only weak references.
    std::lock_guard<std::mutex> calls_lock(done_mu_);
    live_calls_.push_back(call);
  }
  std::lock_guard<std::mutex> lock(call->mu);
  for (int i = 0; i < api.n; ++i) {
    Request r;
    r.prompt = prompt;
    r.sampling = api.sampling;
    if (api.sampling.seed && api.n > 1) r.sampling.seed = *api.sampling.seed + i;
    r.stop = api.stop;
    r.id = absl::StrCat(call->id, "-", i);
    r.user = api.user;
    std::weak_ptr<Call> weak = call;
    if (api.stream) {
      r.on_event = [this, weak, i, &tok](const StreamEvent& e) {
        auto c = weak.lock();
        if (!c || e.text.empty()) return;
        if (!c->api.logprobs) {
          // The common case: only the text differs from one chunk to the next.
          const auto& [head, tail] = c->delta_sse[static_cast<size_t>(i)];
          const std::string text = JsonString(e.text);  // a token's text: usually no allocation
          c->out->WriteChunk({head, text, tail});
          return;
        }
        c->out->WriteChunk(Sse(serve::ChunkJson(c->api, c->id, c->created, model_name_, i, nullptr,
                                                e.text, &e.token, nullptr, tok)));
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
      c->usage.completion_tokens += result.usage.completion_tokens;
      if (i == 0) c->usage.cached_tokens = result.usage.cached_prompt_tokens;
      if (result.finish_reason == FinishReason::kError) {
        c->failed = true;
        c->error_code = result.status.code();
        c->error_message = std::string(result.status.message());
      }
      if (c->api.stream && result.finish_reason != FinishReason::kError) {
        c->out->WriteChunk(Sse(
            serve::ChunkJson(c->api, c->id, c->created, model_name_, i, nullptr, "", nullptr,
                             serve::ApiFinishReason(result.finish_reason), model_.tokenizer())));
      }
      if (++c->finished == static_cast<int>(c->choices.size())) CallDone(*c);
    };
    auto handle = scheduler_.Submit(std::move(r));
    if (!handle.ok()) {
      // Cancel what this call already started; answer with the Scheduler's reason.
      for (RequestHandle& h : call->handles) h.Cancel();
      const absl::StatusCode code = handle.status().code();
      const int status = code == absl::StatusCode::kResourceExhausted ? 429
                         : code == absl::StatusCode::kUnavailable     ? 503
                         : code == absl::StatusCode::kInvalidArgument ? 400
                                                                      : 500;
      call->failed = true;
      call->error_message = std::string(handle.status().message());
      const ApiError e = Error(status, call->error_message,
                               status == 400 ? "invalid_request_error" : "server_error");
      if (api.stream) {
        out->WriteChunk(Sse(json::parse(serve::ErrorBody(e))));
        out->WriteChunk("data: [DONE]\n\n");
        out->EndStream();
        Record(req, call->id, status, true, start, n_prompt, 0);
      } else {
        Answer(req, *out, ErrorResponse(e), start, n_prompt, 0, call->id);
      }
      // Choices already submitted finish as cancelled, unseen: the call is dropped here.
      {
        std::lock_guard<std::mutex> calls_lock(done_mu_);
        std::erase(live_calls_, call);
      }
      --in_flight_;
      done_cv_.notify_all();
      return;
    }
    call->handles.push_back(*handle);
  }
  // The client going away cancels every choice.
  std::weak_ptr<Call> weak = call;
  out->OnDisconnect([weak] {
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

void Server::Impl::CallDone(Call& c) {
  // Runs on the Scheduler's thread with c.mu held.
  const Tokenizer& tok = model_.tokenizer();
  int status = 200;
  const int error_status = c.error_code == absl::StatusCode::kUnavailable ||
                                   c.error_code == absl::StatusCode::kDeadlineExceeded
                               ? 503
                               : 500;
  if (c.api.stream) {
    if (c.failed) {
      c.out->WriteChunk(
          Sse(json::parse(serve::ErrorBody(Error(error_status, c.error_message, "server_error")))));
      status = error_status;
    } else if (c.api.include_usage) {
      c.out->WriteChunk(Sse(serve::UsageChunkJson(c.api, c.id, c.created, model_name_, c.usage)));
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
          200, serve::CompletionJson(c.api, c.id, c.created, model_name_, c.choices, c.usage, tok));
    }
    Answer(c.http, *c.out, std::move(r), c.start, c.usage.prompt_tokens, c.usage.completion_tokens,
           c.id);
  }
  --in_flight_;
  {
    std::lock_guard<std::mutex> lock(done_mu_);
    std::erase_if(live_calls_, [&](const std::shared_ptr<Call>& p) { return p.get() == &c; });
  }
  done_cv_.notify_all();
}

void Server::Impl::Shutdown(std::chrono::milliseconds timeout) {
  if (stopping_.exchange(true)) return;
  if (http_) http_->StopAccepting();
  const auto deadline = Clock::now() + timeout;
  {
    std::unique_lock<std::mutex> lock(done_mu_);
    if (!done_cv_.wait_until(lock, deadline, [&] { return in_flight_.load() <= 0; })) {
      // Out of time: cancel what is left, so that each stream still ends with its last chunk
      // and [DONE] (each answer says it was cut short) instead of a connection closed mid-way.
      // A call's mutex is taken before done_mu_ elsewhere (CallDone): not under done_mu_ here.
      const std::vector<std::shared_ptr<Call>> calls = live_calls_;
      INFER_LOG(kWarning, "shutdown: %d requests still running after the timeout; cancelling",
                static_cast<int>(in_flight_.load()));
      lock.unlock();
      for (const std::shared_ptr<Call>& call : calls) {
        std::vector<RequestHandle> handles;
        {
          std::lock_guard<std::mutex> call_lock(call->mu);
          handles = call->handles;
        }
        for (RequestHandle& h : handles) h.Cancel();
      }
      lock.lock();
      done_cv_.wait_for(lock, std::chrono::seconds(2), [&] { return in_flight_.load() <= 0; });
    }
  }
  // The last answers may still be on their way to the clients: give them the time left (and a
  // moment even when none is left, so a finished stream is not cut before its end).
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (http_) http_->Stop(std::max(left, std::chrono::milliseconds(500)));
  if (logins_) logins_->Stop();
}

// ---- Server ----------------------------------------------------------------------------------

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { impl_->Shutdown(std::chrono::milliseconds(0)); }

absl::StatusOr<std::unique_ptr<Server>> Server::Start(Model& model, Scheduler& scheduler,
                                                      const ServerOptions& options) {
  if (options.io_threads < 1 || options.io_threads > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("io_threads: must be in [1, 256], got ", options.io_threads));
  }
  if (options.stream_flush_interval.count() < 0 ||
      options.stream_flush_interval > std::chrono::seconds(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream_flush_interval: must be in [0, 1 s], got ",
                     options.stream_flush_interval.count(), " us"));
  }
  if (options.max_n < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_n: must be >= 1, got ", options.max_n));
  }
  auto impl = std::make_unique<Impl>(model, scheduler, options);
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::AddRoute(const std::string& method, const std::string& path, RouteHandler handler) {
  std::lock_guard<std::mutex> lock(impl_->routes_mu_);
  impl_->routes_[{method, path}] = std::move(handler);
}

void Server::MarkReady() { impl_->ready_.store(true); }
int Server::port() const { return impl_->http_->port(); }
void Server::Shutdown(std::chrono::milliseconds timeout) { impl_->Shutdown(timeout); }
int64_t Server::in_flight() const { return impl_->in_flight_.load(); }

}  // namespace infer
