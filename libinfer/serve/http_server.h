// A small HTTP/1.1 server on Boost.Beast: keep-alive, bounded header and body sizes, a timeout
// for reading each request (slow or idle clients cannot pin a connection), a connection cap,
// whole or chunked-streamed answers, and disconnect notification while an answer is pending.
//
// Handlers run on an I/O thread and must return quickly: they hand long work elsewhere (the
// Scheduler) and answer later through the Responder, from any thread.
#ifndef INFER_SERVE_HTTP_SERVER_H_
#define INFER_SERVE_HTTP_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "infer/server.h"

namespace infer::serve {

struct HttpLimits {
  size_t max_header_bytes = 16 * 1024;                                  // beyond: 431
  size_t max_body_bytes = 8 * 1024 * 1024;                              // beyond: 413
  std::chrono::milliseconds request_timeout{std::chrono::seconds(15)};  // idle wait + headers +
                                                                        // body of one request
  std::chrono::milliseconds write_timeout{std::chrono::seconds(60)};    // one write to a client
  int max_connections = 1024;                                           // beyond: 503 and close
  // A streamed answer's writes start at most this often (the first and the last at once);
  // chunks that arrive in between go out together in the next write. 0: each at once.
  std::chrono::microseconds stream_flush_interval{0};
};

using Headers = HttpHeaders;
using infer::HttpRequest;
using infer::HttpResponse;

// One request's answer. Thread-safe; every call after the answer is complete is ignored.
class Responder {
 public:
  virtual ~Responder() = default;
  // A whole answer.
  virtual void Send(HttpResponse response) = 0;
  // A streamed answer: status and headers now (chunked transfer encoding), then chunks.
  virtual void StartStream(int status, std::string content_type, Headers headers) = 0;
  virtual void WriteChunk(std::string data) = 0;
  // One chunk made of `pieces` in order, copied once (no concatenated string in between).
  virtual void WriteChunk(std::initializer_list<std::string_view> pieces) = 0;
  virtual void EndStream() = 0;
  // `f` runs once, on an I/O thread, if the client goes away before the answer is complete
  // (set it before answering; it replaces an earlier one).
  virtual void OnDisconnect(std::function<void()> f) = 0;
};

using Handler = std::function<void(const HttpRequest&, std::shared_ptr<Responder>)>;

class HttpServer {
 public:
  // Binds host:port (port 0: any free port) and starts `threads` I/O threads. Errors name the
  // address.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& host, int port,
                                                           int threads, const HttpLimits& limits,
                                                           Handler handler);
  ~HttpServer();

  int port() const;
  int64_t open_connections() const;
  // Stops accepting connections; open ones keep being served.
  void StopAccepting();
  // Closes idle connections at once and the others when the answer they are writing is done,
  // waiting up to `grace`; then closes every connection left and joins the I/O threads.
  void Stop(std::chrono::milliseconds grace);

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether `host` names only this machine: "localhost", or an IPv4 address in 127.0.0.0/8 or the
// IPv6 address ::1 (also IPv4-mapped). False for a wildcard (0.0.0.0, ::) or anything else.
bool IsLoopbackHost(const std::string& host);

// The reason phrase of a status code ("Not Found").
std::string StatusReason(int status);

}  // namespace infer::serve

#endif  // INFER_SERVE_HTTP_SERVER_H_
