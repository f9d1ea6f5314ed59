// HttpServer on Boost.Beast. Each connection is a Session on its own strand; a Session reads one
// request at a time (keep-alive), calls the handler, and writes the answer the handler gives
// through the Session's Responder side, whole or as chunks. Answers arrive from other threads:
// every Responder call posts to the strand.
#include "libinfer/serve/http_server.h"

#include <sys/socket.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <deque>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libinfer/util/logging.h"
#include "libinfer/util/thread_guard.h"

namespace infer::serve {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

}  // namespace infer::serve

namespace infer {

std::string HttpRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() &&
        absl::EqualsIgnoreCase(absl::string_view(k.data(), k.size()),
                               absl::string_view(name.data(), name.size()))) {
      return v;
    }
  }
  return "";
}

}  // namespace infer

namespace infer::serve {

std::string StatusReason(int status) {
  const beast::string_view r = http::obsolete_reason(static_cast<http::status>(status));
  return r.empty() ? std::string("Unknown") : std::string(r.data(), r.size());
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  const net::ip::address a = net::ip::make_address(host, ec);
  if (ec) return false;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()).is_loopback();
  }
  return a.is_loopback();
}

namespace {

std::string ErrorJson(const std::string& message, const char* type, int code) {
  // The OpenAI error shape; the API layer has richer errors, this one is for transport faults.
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return absl::StrCat(R"({"error":{"message":")", escaped, R"(","type":")", type,
                      R"(","param":null,"code":)", code, "}}");
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(int threads, const HttpLimits& limits, Handler handler)
      : threads_(threads), limits_(limits), handler_(std::move(handler)) {}

  absl::Status Listen(const std::string& host, int port);
  void Accept();
  void Stop(std::chrono::milliseconds grace);
  void StopAccepting();

  net::io_context ioc_;
  // Keeps the I/O threads running while no connection is open, until Stop.
  net::executor_work_guard<net::io_context::executor_type> work_{ioc_.get_executor()};
  // The acceptor and everything that touches it (its accept handler, StopAccepting's close) run
  // on this strand: Server::Shutdown and Stop both stop accepting, from I/O threads that would
  // otherwise close the acceptor concurrently with each other or with a re-armed accept.
  net::strand<net::io_context::executor_type> accept_strand_{net::make_strand(ioc_)};
  std::optional<tcp::acceptor> acceptor_;
  int threads_;
  HttpLimits limits_;
  Handler handler_;
  std::vector<std::thread> workers_;
  std::atomic<int64_t> connections_{0};
  int port_ = 0;
  std::once_flag stop_once_;
  std::mutex sessions_mu_;
  std::vector<std::weak_ptr<class Session>> sessions_;
};

class Session : public std::enable_shared_from_this<Session>, public Responder {
 public:
  Session(tcp::socket socket, HttpServer::Impl& server)
      : stream_(std::move(socket)), server_(server), flush_timer_(stream_.get_executor()) {
    boost::system::error_code ec;
    // Streamed chunks are small writes: with Nagle's algorithm each one after the first would
    // wait for the peer's (delayed, up to 40 ms) acknowledgement of the previous.
    stream_.socket().set_option(tcp::no_delay(true), ec);
    const tcp::endpoint peer = stream_.socket().remote_endpoint(ec);
    if (!ec) client_ = absl::StrCat(peer.address().to_string(), ":", peer.port());
    ++server_.connections_;
  }
  ~Session() override { --server_.connections_; }

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }

  // Refuses the connection with one answer (connection cap).
  void Refuse(int status, const std::string& message) {
    net::dispatch(stream_.get_executor(), [self = shared_from_this(), status, message] {
      self->keep_alive_ = false;
      self->answering_ = true;
      HttpResponse r;
      r.status = status;
      r.body = ErrorJson(message, "server_error", status);
      r.headers.push_back({"Retry-After", "1"});
      self->WriteWhole(std::move(r));
    });
  }

  // Closes the connection as soon as it is not writing an answer: at once when idle between
  // requests, else after the answer in progress has been written (so no stream loses its end).
  void CloseWhenIdle() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      self->closing_ = true;
      if (!self->answering_ && !self->writing_) self->Shutdown();
    });
  }

  void Close() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      boost::system::error_code ec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      self->stream_.close();
    });
  }

  // Responder.
  void Send(HttpResponse response) override {
    net::post(stream_.get_executor(),
              [self = shared_from_this(), r = std::move(response)]() mutable {
                // One answer a request: a second Send (a handler that answered and then threw)
                // is dropped.
                if (!self->answering_ || self->streaming_ || self->whole_sent_) return;
                self->WriteWhole(std::move(r));
              });
  }
  void StartStream(int status, std::string content_type, Headers headers) override {
    net::post(
        stream_.get_executor(), [self = shared_from_this(), status, ct = std::move(content_type),
                                 h = std::move(headers)]() mutable {
          if (!self->answering_ || self->streaming_) return;
          self->streaming_ = true;
          std::string head = absl::StrCat("HTTP/1.1 ", status, " ", StatusReason(status), "\r\n");
          absl::StrAppend(&head, "Content-Type: ", ct, "\r\nTransfer-Encoding: chunked\r\n");
          for (const auto& [k, v] : h) absl::StrAppend(&head, k, ": ", v, "\r\n");
          absl::StrAppend(&head, "Connection: ", self->keep_alive_ ? "keep-alive" : "close",
                          "\r\n\r\n");
          self->last_write_ = {};  // the head goes out at once
          self->Queue(std::move(head));
          self->last_write_ = {};  // and so does the first chunk: the interval starts there
        });
  }
  // Chunks collect in the outbox, framed by the caller's thread; one posted Flush moves all that
  // piled up onto the strand, so a stream's tokens cost one hand-off per batch, not one each.
  void WriteChunk(std::string data) override { WriteChunk({std::string_view(data)}); }
  void WriteChunk(std::initializer_list<std::string_view> pieces) override {
    size_t size = 0;
    for (std::string_view p : pieces) size += p.size();
    if (size == 0) return;  // an empty chunk would end the stream
    bool post = false;
    {
      std::lock_guard<std::mutex> lock(outbox_mu_);
      absl::StrAppend(&outbox_, absl::Hex(size), "\r\n");
      for (std::string_view p : pieces) outbox_.append(p.data(), p.size());
      outbox_.append("\r\n");
      post = !flush_posted_;
      flush_posted_ = true;
    }
    if (post) {
      net::post(stream_.get_executor(), [self = shared_from_this()] { self->Flush(); });
    }
  }
  // Posted after the Flush of every chunk written before it, so the end goes out last.
  void EndStream() override {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->streaming_ || self->stream_ended_) return;
      self->DrainOutbox();  // chunks that the flush timer was to pick up come first
      self->stream_ended_ = true;
      self->Queue("0\r\n\r\n");
    });
  }
  void OnDisconnect(std::function<void()> f) override {
    std::lock_guard<std::mutex> lock(disconnect_mu_);
    on_disconnect_ = std::move(f);
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_.limits_.max_header_bytes));
    parser_->body_limit(server_.limits_.max_body_bytes);
    stream_.expires_after(server_.limits_.request_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset || ec == net::error::eof) {
      return Shutdown();
    }
    if (ec == beast::error::timeout) return Shutdown();  // slow or idle client
    if (ec) {
      int status = 400;
      std::string message = absl::StrCat("malformed HTTP request: ", ec.message());
      if (ec == http::error::header_limit) {
        status = 431;
        message =
            absl::StrCat("request headers exceed ", server_.limits_.max_header_bytes, " bytes");
      } else if (ec == http::error::body_limit) {
        status = 413;
        message = absl::StrCat("request body exceeds ", server_.limits_.max_body_bytes, " bytes");
      }
      keep_alive_ = false;
      answering_ = true;
      linger_ = true;  // the client may still be sending the rest of what was refused
      HttpResponse r;
      r.status = status;
      r.body = ErrorJson(message, "invalid_request_error", status);
      return WriteWhole(std::move(r));
    }
    http::request<http::string_body> req = parser_->release();
    keep_alive_ = req.keep_alive();
    HttpRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.path = request.target.substr(0, request.target.find('?'));
    for (const auto& field : req) {
      request.headers.push_back({std::string(field.name_string()), std::string(field.value())});
    }
    request.body = std::move(req.body());
    request.client_address = client_;
    answering_ = true;
    whole_sent_ = false;
    streaming_ = false;
    stream_ended_ = false;
    {
      std::lock_guard<std::mutex> lock(disconnect_mu_);
      on_disconnect_ = nullptr;
    }
    stream_.expires_never();
    WatchForDisconnect(++request_seq_);
    // A handler that throws answers 500 (or ends its stream) and fails only this request.
    const absl::Status thrown = RunGuarded(
        [&] { return absl::StrCat("HTTP handler for ", request.method, " ", request.path); },
        [&] { server_.handler_(request, shared_from_this()); });
    if (!thrown.ok()) {
      HttpResponse r;
      r.status = 500;
      r.body = ErrorJson("internal error", "server_error", 500);
      Send(std::move(r));
      EndStream();
    }
  }

  // While an answer is pending, the peer closing its side means it went away. The watch belongs
  // to one request: a completion already queued when that answer finished must not take the
  // next request on this connection for a disconnect.
  void WatchForDisconnect(uint64_t request) {
    stream_.socket().async_wait(
        tcp::socket::wait_read, [self = shared_from_this(), request](boost::system::error_code ec) {
          if (ec || !self->answering_ || request != self->request_seq_) return;
          // Readiness alone proves nothing (the reactor may wake a wait spuriously): peek.
          char byte = 0;
          const ssize_t n =
              ::recv(self->stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
          if (n > 0) return;  // a pipelined request: read after this answer
          if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            return self->WatchForDisconnect(request);  // nothing there after all: keep watching
          }
          // n == 0: the peer closed; n < 0: the connection failed (reset).
          std::function<void()> f;
          {
            std::lock_guard<std::mutex> lock(self->disconnect_mu_);
            f = std::move(self->on_disconnect_);
            self->on_disconnect_ = nullptr;
          }
          self->answering_ = false;
          if (f) f();
        });
  }

  void WriteWhole(HttpResponse r) {
    whole_sent_ = true;
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), 11);
    res->set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res->set(k, v);
    res->keep_alive(keep_alive_);
    res->body() = std::move(r.body);
    res->prepare_payload();
    stream_.expires_after(server_.limits_.write_timeout);
    http::async_write(
        stream_, *res,
        [self = shared_from_this(), res](beast::error_code ec, size_t) { self->AnswerDone(ec); });
  }

  // Moves what the outbox holds to pending_ (not writing it yet). The next chunk posts a Flush
  // unless the armed flush timer will drain the outbox anyway.
  void DrainOutbox() {
    std::string chunks;
    {
      std::lock_guard<std::mutex> lock(outbox_mu_);
      chunks.swap(outbox_);
      flush_posted_ = flush_timer_armed_;
    }
    if (!streaming_ || stream_ended_ || chunks.empty()) return;
    pending_.push_back(std::move(chunks));
  }

  void Flush() {
    DrainOutbox();
    if (!writing_ && !flush_timer_armed_) WriteNext();
  }

  void Queue(std::string data) {
    pending_.push_back(std::move(data));
    if (stream_ended_ && flush_timer_armed_) {
      // The end of a stream is not held back: cancelling the timer runs WriteNext now.
      flush_timer_.cancel();
      return;
    }
    if (!writing_ && !flush_timer_armed_) WriteNext();
  }

  // Writes everything queued in one gather write: a stream's chunks that piled up while the
  // previous write was in flight (or while the flush interval held them) go out in one system
  // call. Within a stream, writes start at most once per flush interval, except the first one
  // and the one that ends the stream.
  void WriteNext() {
    if (pending_.empty()) {
      writing_ = false;
      if (stream_ended_) AnswerDone({});
      return;
    }
    const auto interval = server_.limits_.stream_flush_interval;
    const auto now = std::chrono::steady_clock::now();
    if (streaming_ && !stream_ended_ && interval.count() > 0 && now < last_write_ + interval) {
      writing_ = false;
      flush_timer_armed_ = true;
      {
        // The timer drains the outbox: chunks written meanwhile need no Flush of their own, so
        // the model's thread posts about once per interval and stream, not once per token.
        std::lock_guard<std::mutex> lock(outbox_mu_);
        flush_posted_ = true;
      }
      flush_timer_.expires_at(last_write_ + interval);
      flush_timer_.async_wait([self = shared_from_this()](boost::system::error_code) {
        self->flush_timer_armed_ = false;
        self->DrainOutbox();
        if (!self->stream_.socket().is_open()) return;
        if (!self->writing_) self->WriteNext();
      });
      return;
    }
    last_write_ = now;
    writing_ = true;
    in_write_.clear();
    in_write_.swap(pending_);
    buffers_.clear();
    for (const std::string& d : in_write_) buffers_.push_back(net::buffer(d));
    stream_.expires_after(server_.limits_.write_timeout);
    net::async_write(stream_, buffers_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->in_write_.clear();
      if (ec) {
        self->pending_.clear();
        self->writing_ = false;
        self->ClientGone();
        return self->Shutdown();
      }
      self->WriteNext();
    });
  }

  void ClientGone() {
    std::function<void()> f;
    {
      std::lock_guard<std::mutex> lock(disconnect_mu_);
      f = std::move(on_disconnect_);
      on_disconnect_ = nullptr;
    }
    answering_ = false;
    if (f) f();
  }

  void AnswerDone(beast::error_code ec) {
    answering_ = false;
    {
      std::lock_guard<std::mutex> lock(disconnect_mu_);
      on_disconnect_ = nullptr;
    }
    boost::system::error_code ignored;
    stream_.socket().cancel(ignored);  // the disconnect watch
    if (!ec && linger_) return Linger();
    if (ec || !keep_alive_ || closing_) return Shutdown();
    Read();
  }

  // A refused request's remaining bytes are read and dropped for a short while before closing:
  // closing a socket with unread data sends a reset, and the client would lose the answer (413,
  // 431) it has not read yet, seeing only a broken pipe while it still sends.
  void Linger() {
    boost::system::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(kLingerTime);
    linger_buffer_ = std::make_unique<char[]>(kLingerChunk);
    DrainRefused();
  }

  void DrainRefused() {
    stream_.async_read_some(net::buffer(linger_buffer_.get(), kLingerChunk),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->lingered_bytes_ += n;
                              if (ec || self->lingered_bytes_ > kMaxLingerBytes)
                                return self->stream_.close();
                              self->DrainRefused();
                            });
  }

  void Shutdown() {
    boost::system::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  static constexpr std::chrono::seconds kLingerTime{2};
  static constexpr size_t kLingerChunk = 64 * 1024;
  static constexpr size_t kMaxLingerBytes = 64 * 1024 * 1024;

  beast::tcp_stream stream_;
  HttpServer::Impl& server_;
  bool linger_ = false;
  size_t lingered_bytes_ = 0;
  std::unique_ptr<char[]> linger_buffer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string client_;
  bool keep_alive_ = true;
  bool answering_ = false;   // a request was read and its answer is not complete
  bool whole_sent_ = false;  // this request's whole answer is written (or being written)
  bool streaming_ = false;
  bool stream_ended_ = false;
  bool writing_ = false;
  bool closing_ = false;      // the server is stopping: close once the current answer is written
  uint64_t request_seq_ = 0;  // requests read on this connection
  std::deque<std::string> pending_;   // queued, not yet written
  std::deque<std::string> in_write_;  // being written (owned until the write completes)
  std::vector<net::const_buffer> buffers_;
  net::steady_timer flush_timer_;
  bool flush_timer_armed_ = false;
  std::chrono::steady_clock::time_point last_write_{};
  std::mutex outbox_mu_;
  std::string outbox_;         // guarded by outbox_mu_: framed chunks not yet on the strand
  bool flush_posted_ = false;  // guarded by outbox_mu_
  std::mutex disconnect_mu_;
  std::function<void()> on_disconnect_;
};

absl::Status HttpServer::Impl::Listen(const std::string& host, int port) {
  boost::system::error_code ec;
  const net::ip::address address = net::ip::make_address(host, ec);
  if (ec)
    return absl::InvalidArgumentError(absl::StrCat("--host: '", host, "' is not an IP address"));
  const tcp::endpoint endpoint(address, static_cast<uint16_t>(port));
  acceptor_.emplace(accept_strand_);
  auto fail = [&](const char* what) {
    return absl::UnavailableError(
        absl::StrCat("cannot ", what, " ", host, ":", port, ": ", ec.message()));
  };
  if (acceptor_->open(endpoint.protocol(), ec); ec) return fail("open");
  if (acceptor_->set_option(net::socket_base::reuse_address(true), ec); ec)
    return fail("configure");
  if (acceptor_->bind(endpoint, ec); ec) return fail("bind");
  if (acceptor_->listen(net::socket_base::max_listen_connections, ec); ec) return fail("listen on");
  port_ = acceptor_->local_endpoint().port();
  return absl::OkStatus();
}

void HttpServer::Impl::Accept() {
  acceptor_->async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec != net::error::operation_aborted && acceptor_->is_open()) Accept();
      return;
    }
    auto session = std::make_shared<Session>(std::move(socket), *this);
    {
      std::lock_guard<std::mutex> lock(sessions_mu_);
      std::erase_if(sessions_, [](const std::weak_ptr<Session>& w) { return w.expired(); });
      sessions_.push_back(session);
    }
    if (connections_.load() > limits_.max_connections) {
      session->Refuse(503, absl::StrCat("too many connections (", limits_.max_connections, ")"));
    } else {
      session->Start();
    }
    Accept();
  });
}

void HttpServer::Impl::StopAccepting() {
  net::post(accept_strand_, [this] {
    boost::system::error_code ec;
    if (acceptor_ && acceptor_->is_open()) acceptor_->close(ec);
  });
}

void HttpServer::Impl::Stop(std::chrono::milliseconds grace) {
  std::call_once(stop_once_, [this, grace] {
    StopAccepting();
    // First let answers being written finish (idle connections close at once), then close
    // whatever is left.
    const auto deadline = std::chrono::steady_clock::now() + grace;
    {
      std::lock_guard<std::mutex> lock(sessions_mu_);
      for (auto& w : sessions_) {
        if (auto s = w.lock()) s->CloseWhenIdle();
      }
    }
    while (connections_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    {
      std::lock_guard<std::mutex> lock(sessions_mu_);
      for (auto& w : sessions_) {
        if (auto s = w.lock()) s->Close();
      }
    }
    work_.reset();
    ioc_.stop();
    for (std::thread& t : workers_) t.join();
  });
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { impl_->Stop(std::chrono::milliseconds(0)); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& host, int port,
                                                              int threads, const HttpLimits& limits,
                                                              Handler handler) {
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--port: ", port, " is not in [0, 65535]"));
  }
  auto impl = std::make_unique<Impl>(std::max(1, threads), limits, std::move(handler));
  if (absl::Status s = impl->Listen(host, port); !s.ok()) return s;
  impl->Accept();
  for (int i = 0; i < impl->threads_; ++i) {
    impl->workers_.emplace_back([io = &impl->ioc_] {
      for (;;) {
        try {
          io->run();
          return;
        } catch (const std::exception& e) {
          // A handler that throws must not take the server down.
          INFER_LOG(kError, "HTTP I/O thread: %s", e.what());
        }
      }
    });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->port_; }
int64_t HttpServer::open_connections() const { return impl_->connections_.load(); }
void HttpServer::StopAccepting() { impl_->StopAccepting(); }
void HttpServer::Stop(std::chrono::milliseconds grace) { impl_->Stop(grace); }

}  // namespace infer::serve
