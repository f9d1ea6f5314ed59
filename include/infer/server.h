// libinfer — Server: an OpenAI-compatible HTTP endpoint over a set of models (include/infer/
// model_set.h), or over one Model and its Scheduler.
//
//   infer::ServerOptions options;
//   options.port = 8000;
//   auto server = infer::Server::Start(*model_set, options);   // or Start(*model, *scheduler, ..)
//   ...
//   (*server)->Shutdown(std::chrono::seconds(30));   // stop accepting, finish in-flight work
//
// Routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /v1/models/<id>,
// GET /health, GET /ready, GET /metrics, plus any route the host adds. A completion goes to the
// model its `model` names (404 in OpenAI's shape for a name the set does not serve; a request
// without `model` is accepted while the set serves exactly one), to that model's least busy
// replica, with the model's sampling defaults for the fields it leaves out. The model runs on
// its Scheduler's thread, never on the I/O threads. Errors are OpenAI-shaped JSON
// ({"error": {"message", "type", "param", "code"}}).
//
// With an AuthStore (ServerOptions::auth) the server also answers POST /token (a login with form
// fields `username` and `password`, urlencoded or multipart, answered with
// {"access_token", "token_type": "bearer", "expires_in"}) and the admin routes
// GET /v1/admin/users and POST /v1/admin/reload, and every path under /v1/ demands
// `Authorization: Bearer <token or API key>`: 401 with `WWW-Authenticate: Bearer` when it is
// missing, malformed, expired or tampered with, 403 when the bearer's role may not use the route
// (IsRouteAllowed in infer/auth.h; host routes under /v1/admin/ are admin-only, other host routes
// under /v1/ are for every role), 429 with Retry-After for too many failed logins. /health and
// /ready are always open; /metrics unless metrics_require_auth.
#ifndef INFER_SERVER_H_
#define INFER_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "infer/auth.h"
#include "infer/model.h"
#include "infer/model_set.h"
#include "infer/scheduler.h"

namespace infer {

// Whether `role` may call the route at `path` (the request target's path; a query string after
// '?' is ignored). Deny by default: only these paths are granted, compared byte for byte (the
// server does not normalise `..` or percent-escapes into a match):
//   user, admin: /v1/chat/completions, /v1/completions, /v1/models, /v1/models/<id>
//   admin only:  /v1/admin/<anything> (the built-in admin routes and the host's)
// Open routes (/health, /ready, /metrics, /token) are the server's decision and not granted here.
bool IsRouteAllowed(Role role, std::string_view path);

// The same for a role given by name; an unknown role name (see ParseRole) is allowed nothing.
bool IsRouteAllowed(std::string_view role_name, std::string_view path);

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// A request as a route sees it.
struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent, with the query
  std::string path;    // target without the query
  HttpHeaders headers;
  std::string body;
  std::string client_address;  // "ip:port"

  // The first header named `name` (case-insensitive), or "".
  std::string Header(std::string_view name) const;
};

// A whole answer.
struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  HttpHeaders headers;
  std::string body;
};

struct ServerOptions {
  std::string host = "127.0.0.1";       // address to bind; 0.0.0.0 for every interface
  int port = 8000;                      // 0: any free port (see Server::port())
  int io_threads = 2;                   // threads for the sockets (the model has its own)
  std::string served_model_name;        // Start(Model&, ...): the model's id in /v1/models and the
                                        // accepted "model"; default: the file's name without
                                        // its extension (a ModelSet names its own models)
  int max_n = 16;                       // largest accepted `n`
  int max_connections = 1024;           // beyond: 503
  size_t max_header_bytes = 16 * 1024;  // beyond: 431
  size_t max_body_bytes = 8 * 1024 * 1024;                              // beyond: 413
  std::chrono::milliseconds request_timeout{std::chrono::seconds(15)};  // to receive a request
  // Each stream's writes to its socket start at most this often; tokens generated in between
  // go out together (each still its own SSE event). The first and the last write of a stream
  // are never held. Far below a reader's notice and below the step time of any real model, it
  // spares the server one system call per token when steps take microseconds. 0: write every
  // token at once.
  std::chrono::microseconds stream_flush_interval{std::chrono::milliseconds(2)};
  // Log one line per request (id, status, tokens, latency) through the library's log sink.
  bool log_requests = true;
  // Requests without a seed get seed + (a request counter) when set, so a server started with
  // the same seed answers the same sequence of requests the same way; unset: random seeds.
  std::optional<uint64_t> seed;

  // Optional check of what the model stands on (e.g. Cluster::health: every rank alive). While
  // it fails, /health answers 503 with its message and /ready answers 503. Called on an I/O
  // thread at each probe: keep it cheap and thread-safe.
  std::function<absl::Status()> health_check;

  // Authentication (see the top of this file). Not owned; must outlive the Server. Null: no
  // login, every route open, and Start() refuses a host other than a loopback address unless
  // allow_unauthenticated is set.
  AuthStore* auth = nullptr;
  // Serve without `auth` on a non-loopback address (a trusted network, a proxy that checks).
  bool allow_unauthenticated = false;
  // The chat page at `/` (its files under /ui/): log in, pick a model, chat with streamed
  // answers. Off: those paths answer 404.
  bool chat_page = true;
  // With `auth`: /metrics demands a bearer credential too (any role).
  bool metrics_require_auth = false;
  // Threads that check passwords for POST /token: argon2id costs tens of milliseconds of CPU and
  // runs here, never on the I/O threads.
  int login_threads = 1;
  // Logins queued for those threads beyond which POST /token answers 503 with Retry-After.
  int max_pending_logins = 64;
};

// A route of the host's own: called on an I/O thread, must return quickly.
using RouteHandler = std::function<HttpResponse(const HttpRequest&)>;

class Server {
 public:
  // Binds and starts serving. /ready answers 503 until MarkReady() (the CLI runs a warm-up
  // generation first). Errors name the address or the option; InvalidArgument for a
  // non-loopback host without `auth` and without `allow_unauthenticated`.
  static absl::StatusOr<std::unique_ptr<Server>> Start(ModelSet& models,
                                                       const ServerOptions& options);
  // One model the host owns, served as options.served_model_name (ModelSet::Adopt). Also
  // InvalidArgument for a chat template that cannot render a conversation.
  static absl::StatusOr<std::unique_ptr<Server>> Start(Model& model, Scheduler& scheduler,
                                                       const ServerOptions& options);
  // Shuts down at once (Shutdown(0)) if still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Adds (or replaces) the route for `method` and exact `path`. Thread-safe.
  void AddRoute(const std::string& method, const std::string& path, RouteHandler handler);

  // /ready answers 200 from now on (until Shutdown).
  void MarkReady();

  // The bound port.
  int port() const;

  // Stops accepting work: new requests get 503 and /ready fails; waits up to `timeout` for the
  // answers in flight, then closes every connection. Idempotent.
  void Shutdown(std::chrono::milliseconds timeout);

  // Answers in flight (requests read and not yet fully answered).
  int64_t in_flight() const;

 private:
  class Impl;  // the implementation's (not part of the API)
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace infer

#endif  // INFER_SERVER_H_
