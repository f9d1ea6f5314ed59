// Server: the OpenAI routes over HttpServer, the Scheduler and the model's chat template. This
// file holds the dispatch (the bearer check, health, the host's routes), the shared helpers and
// shutdown; the routes themselves are in files by family (see server_impl.h).
#include "infer/server.h"

#include <algorithm>
#include <filesystem>
#include <random>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libinfer/serve/server_impl.h"
#include "libinfer/serve/ui_assets.h"
#include "libinfer/util/logging.h"
#include "libinfer/util/status_macros.h"

namespace infer {
namespace serve {

using nlohmann::json;

using Clock = std::chrono::steady_clock;

HttpRequest ForLogLine(const HttpRequest& req) {
  HttpRequest r;
  r.method = req.method;
  r.path = req.path;
  r.client_address = req.client_address;
  return r;
}

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
HttpResponse ErrorResponse(const ApiError& e, int64_t retry_after_seconds) {
  HttpResponse r;
  r.status = e.status;
  r.body = serve::ErrorBody(e);
  if (e.status == 429 || e.status == 503) {
    r.headers.push_back({"Retry-After", absl::StrCat(retry_after_seconds)});
  }
  return r;
}

ApiError Error(int status, std::string message, std::string type, std::string param,
               std::string code) {
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

bool IsApiPath(const std::string& path) { return path == "/v1" || path.rfind("/v1/", 0) == 0; }
bool IsAdminPath(const std::string& path) { return path.rfind(serve::kAdminPrefix, 0) == 0; }

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

}  // namespace serve

using nlohmann::json;
using serve::ApiError;
using serve::BearerCredential;
using serve::Clock;
using serve::Error;
using serve::ErrorResponse;
using serve::IsAdminPath;
using serve::IsApiPath;
using serve::JsonResponse;
using serve::Responder;
using serve::RouteId;
using serve::Unauthorized;

absl::Status Server::Impl::Init() {
  if (options_.auth == nullptr && !options_.allow_unauthenticated &&
      !serve::IsLoopbackHost(options_.host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "refusing to serve on ", options_.host,
        " without authentication: configure users (USER_LIST in the environment, or a users "
        "file) or API keys, bind a loopback address such as 127.0.0.1, or allow it explicitly "
        "(ServerOptions::allow_unauthenticated, `--allow-unauthenticated`)"));
  }
  changes_ = std::make_unique<serve::WorkQueue>("model set changes", 1, 4);
  if (options_.auth != nullptr) {
    logins_ = std::make_unique<serve::WorkQueue>("logins", options_.login_threads,
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

void Server::Impl::CountStatus(int status) {
  std::lock_guard<std::mutex> lock(status_mu_);
  ++requests_by_status_[status];
}

void Server::Impl::Record(const HttpRequest& req, const std::string& id, int status, bool stream,
                          Clock::time_point start, int64_t prompt_tokens,
                          int64_t completion_tokens) {
  CountStatus(status);
  if (!options_.log_requests) return;
  const std::optional<serve::RouteMatch> route = serve::MatchRoute(req.path);
  if (!(route && route->route->quiet)) {
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
  std::optional<serve::RouteMatch> route = serve::MatchRoute(p);
  if (route && route->route->needs_auth && options_.auth == nullptr) route.reset();
  const std::optional<RouteId> id = route ? std::optional<RouteId>(route->route->id) : std::nullopt;
  if (id == RouteId::kHealth || id == RouteId::kReady) return Probe(req, *out, *id, start);
  if (stopping_.load()) {
    return Answer(req, *out,
                  ErrorResponse(Error(503, "the server is shutting down", "server_error")), start);
  }
  if (options_.auth != nullptr) {
    if (id == RouteId::kToken && req.method == "POST") return Login(req, out, start);
    if (IsApiPath(p) || (id == RouteId::kMetrics && options_.metrics_require_auth)) {
      if (std::optional<HttpResponse> refused = Authorize(req, id)) {
        return Answer(req, *out, std::move(*refused), start);
      }
    }
  }
  if (route && serve::RouteAllows(*route->route, req.method)) {
    return Dispatch(*route, req, std::move(out), start);
  }
  {
    std::lock_guard<std::mutex> lock(routes_mu_);
    auto it = routes_.find({req.method, p});
    if (it != routes_.end()) {
      RouteHandler handler = it->second;
      return Answer(req, *out, handler(req), start);
    }
  }
  if (route) {  // a built-in path with another method: 405 with Allow
    const std::string allow(route->route->methods);
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

void Server::Impl::Probe(const HttpRequest& req, Responder& out, RouteId id,
                         Clock::time_point start) {
  const absl::Status health = options_.health_check ? options_.health_check() : absl::OkStatus();
  if (id == RouteId::kHealth) {
    if (!health.ok()) {
      return Answer(
          req, out,
          JsonResponse(503, {{"status", "unhealthy"}, {"error", std::string(health.message())}}),
          start);
    }
    return Answer(req, out, JsonResponse(200, {{"status", "ok"}}), start);
  }
  const bool ok = ready_.load() && !stopping_.load() && health.ok();
  Answer(req, out, JsonResponse(ok ? 200 : 503, {{"status", ok ? "ready" : "not ready"}}), start);
}

std::optional<HttpResponse> Server::Impl::Authorize(const HttpRequest& req,
                                                    std::optional<RouteId> id) {
  const std::string& p = req.path;
  const std::string credential = BearerCredential(req);
  if (credential.empty()) {
    const bool sent = !req.Header("Authorization").empty();
    return Unauthorized(sent ? "the Authorization header must be `Bearer <token>`"
                             : "missing `Authorization: Bearer <token>` (log in "
                               "with POST /token, or use an API key)",
                        sent ? "invalid_api_key" : "missing_api_key", sent);
  }
  auto claims = options_.auth->Authenticate(credential);
  if (!claims.ok()) {
    return Unauthorized(std::string(claims.status().message()), "invalid_api_key", true);
  }
  // Built-in routes by the role policy; host routes under /v1/admin/ for admins only.
  const bool host_route = HasHostRoute(req.method, p);
  const bool allowed =
      id == RouteId::kMetrics || IsRouteAllowed(claims->role, p) || (!IsAdminPath(p) && host_route);
  if (!allowed && (IsAdminPath(p) || host_route)) {
    return ErrorResponse(
        Error(403, absl::StrCat("role '", std::string(RoleName(claims->role)), "' may not use ", p),
              "permission_error", "", "forbidden"));
  }
  return std::nullopt;
}

void Server::Impl::Dispatch(const serve::RouteMatch& route, const HttpRequest& req,
                            std::shared_ptr<Responder> out, Clock::time_point start) {
  switch (route.route->id) {
    case RouteId::kHealth:
    case RouteId::kReady:
      return Probe(req, *out, route.route->id, start);
    case RouteId::kToken:
      return Login(req, out, start);
    case RouteId::kMetrics:
      return Answer(req, *out, Metrics(), start);
    case RouteId::kChatCompletions:
    case RouteId::kCompletions:
      return Completion(req, std::move(out), route.route->id == RouteId::kChatCompletions);
    case RouteId::kModels:
      return Answer(req, *out, Models(), start);
    case RouteId::kModel:
      return Answer(req, *out, ModelObject(std::string(route.param)), start);
    case RouteId::kAdminUsers:
      return Answer(req, *out, AdminUsers(), start);
    case RouteId::kAdminReload:
      return Answer(req, *out, AdminReload(), start);
    case RouteId::kAdminDevices:
    case RouteId::kAdminModels:
    case RouteId::kAdminModel:
    case RouteId::kAdminModelScale:
      return ModelAdmin(route, req, out, start);
    case RouteId::kChatPage:
    case RouteId::kUiAsset:
      return Answer(req, *out, UiFile(req.path), start);
  }
}

HttpResponse Server::Impl::UiFile(const std::string& path) const {
  const serve::UiAsset* asset = options_.chat_page ? serve::FindUiAsset(path) : nullptr;
  if (asset == nullptr) {
    return ErrorResponse(
        Error(404, absl::StrCat("no route GET ", path), "invalid_request_error", "", "not_found"));
  }
  HttpResponse r;
  r.content_type = std::string(asset->content_type);
  r.body = std::string(asset->body);
  // Only the page's own files run: no inline script, no other origin; model output is text.
  r.headers.push_back({"Content-Security-Policy",
                       "default-src 'none'; script-src 'self'; style-src 'self'; "
                       "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                       "form-action 'self'; frame-ancestors 'none'"});
  r.headers.push_back({"X-Content-Type-Options", "nosniff"});
  r.headers.push_back({"Referrer-Policy", "no-referrer"});
  r.headers.push_back({"Cache-Control", "no-cache"});
  return r;
}

bool Server::Impl::HasHostRoute(const std::string& method, const std::string& path) {
  std::lock_guard<std::mutex> lock(routes_mu_);
  return routes_.count({method, path}) > 0;
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
  // A change under way finishes (its drain ends: the requests it waits for are answered).
  if (changes_) changes_->Stop();
}

// ---- Server ----------------------------------------------------------------------------------

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { impl_->Shutdown(std::chrono::milliseconds(0)); }

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ModelSet& models,
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
  auto impl = std::make_unique<Impl>(models, options);
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(Model& model, Scheduler& scheduler,
                                                      const ServerOptions& options) {
  std::string name = options.served_model_name;
  if (name.empty()) {
    name = std::filesystem::path(model.info().path).filename().string();
    if (const size_t dot = name.rfind('.');
        dot != std::string::npos && dot > 0 && name.substr(dot) == ".gguf") {
      name = name.substr(0, dot);
    }
  }
  // Nothing of the set's own is loaded: a slow device refresh is enough.
  ModelSetOptions set_options;
  set_options.refresh_interval = std::chrono::seconds(5);
  INFER_ASSIGN_OR_RETURN(std::unique_ptr<ModelSet> set, ModelSet::Create(set_options));
  INFER_RETURN_IF_ERROR(set->Adopt(name, model, scheduler));
  ModelSet& models = *set;
  INFER_ASSIGN_OR_RETURN(std::unique_ptr<Server> server, Start(models, options));
  server->impl_->owned_models_ = std::move(set);
  return server;
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
