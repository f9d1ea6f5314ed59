// A load generator for the OpenAI-compatible server, and the same workload submitted directly to
// a Scheduler, so the HTTP layer's overhead can be read off one table.
//
//   serve_load --url http://127.0.0.1:8000 --concurrency 1,8,32 --requests 4 --max-tokens 64
//   serve_load --model tiny.gguf --concurrency 32 --requests 4 --max-tokens 64   (no HTTP)
//
// Direct mode takes the tokens out with the callbacks (Request::on_event / on_finish), the
// cheapest way; --pull makes each client thread read its stream with RequestHandle::Next().
//
// Each of `concurrency` clients sends `requests` streaming /v1/completions requests one after the
// other (temperature 0, ignore_eos, include_usage) on its own keep-alive connection, reading the
// SSE stream to its end. One thread drives every connection through epoll, so the load
// generator takes little of the CPU the server needs. Reported per level: requests/s, time to
// first token p50/p99 (the first content event), generated tokens/s over the whole level
// (tokens from the usage chunk).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "infer/model.h"
#include "infer/scheduler.h"
#include "nlohmann/json.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string url;    // http://host:port (HTTP mode)
  std::string model;  // GGUF path (direct mode, or the tokenizer-free HTTP mode needs none)
  std::vector<int> concurrency = {1, 8, 32};
  int requests = 4;
  int max_tokens = 64;
  std::string prompt = "Once upon a time, in a land far away,";
  std::string model_name;  // "model" field; empty: omitted
  int threads = 0;
  bool json = false;
  bool pull = false;  // direct mode: RequestHandle::Next() instead of callbacks
};

struct Sample {
  double ttft = 0;  // seconds
  int64_t tokens = 0;
  bool ok = false;
};

struct Level {
  int concurrency = 0;
  double seconds = 0;
  std::vector<Sample> samples;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

// `concurrency` threads each run `one()` `requests` times in a row; the level's wall time.
template <class One>
Level RunClients(int concurrency, int requests, One one) {
  Level level;
  level.concurrency = concurrency;
  std::mutex mu;
  std::vector<std::thread> clients;
  const Clock::time_point start = Clock::now();
  for (int c = 0; c < concurrency; ++c) {
    clients.emplace_back([&] {
      for (int r = 0; r < requests; ++r) {
        const Sample s = one();
        std::lock_guard<std::mutex> lock(mu);
        level.samples.push_back(s);
      }
    });
  }
  for (std::thread& t : clients) t.join();
  level.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return level;
}

// ---- HTTP mode ---------------------------------------------------------------------------------

bool ParseUrl(const std::string& url, std::string* host, int* port) {
  const std::string prefix = "http://";
  if (url.rfind(prefix, 0) != 0) return false;
  std::string rest = url.substr(prefix.size());
  rest = rest.substr(0, rest.find('/'));
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos) return false;
  *host = rest.substr(0, colon);
  *port = std::atoi(rest.substr(colon + 1).c_str());
  return *port > 0;
}

// One client of the HTTP mode: a keep-alive connection that sends its requests one after the
// other and scans each streamed answer as its bytes arrive.
struct HttpClient {
  int fd = -1;
  int left = 0;  // requests still to send
  Clock::time_point sent_at;
  std::string buf;  // the answer so far
  size_t scanned = 0;
  bool first = false;
  bool done = false;  // saw "data: [DONE]"
  Sample sample;
};

int Connect(const std::string& host, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 &&
      errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Scans the answer bytes for SSE events ("data: ...\n"; chunk-size lines never start with
// "data: ") and for the end of the chunked body. True when the answer is complete.
bool ScanAnswer(HttpClient* c) {
  for (;;) {
    const size_t at = c->buf.find("data: ", c->scanned);
    if (at == std::string::npos) break;
    const size_t end = c->buf.find('\n', at);
    if (end == std::string::npos) break;
    const std::string_view event(c->buf.data() + at + 6, end - at - 6);
    c->scanned = end + 1;
    if (event == "[DONE]") {
      c->done = true;
      break;
    }
    // Only the usage chunk is parsed; the first content event is recognised by its text, so
    // the client spends little CPU per token.
    if (!c->first && event.find("\"text\":\"") != std::string_view::npos &&
        event.find("\"text\":\"\"") == std::string_view::npos) {
      c->first = true;
      c->sample.ttft = std::chrono::duration<double>(Clock::now() - c->sent_at).count();
    }
    if (event.find("\"usage\":{") != std::string_view::npos) {
      const nlohmann::json j = nlohmann::json::parse(event, nullptr, false);
      if (!j.is_discarded() && j["usage"].is_object()) {
        c->sample.tokens = j["usage"].value("completion_tokens", int64_t{0});
      }
    }
  }
  return c->done && c->buf.find("\r\n0\r\n\r\n", c->scanned) != std::string::npos;
}

// `concurrency` keep-alive connections, each sending `requests` streaming requests in a row,
// all driven by this one thread through epoll, as wrk does: the load generator wakes once per
// batch of ready sockets, not once per token and connection, and leaves the CPU to the server.
Level RunHttp(const Options& o, int concurrency) {
  std::string host;
  int port = 0;
  ParseUrl(o.url, &host, &port);
  nlohmann::json body = {{"prompt", o.prompt}, {"max_tokens", o.max_tokens},
                         {"temperature", 0},   {"ignore_eos", true},
                         {"stream", true},     {"stream_options", {{"include_usage", true}}}};
  if (!o.model_name.empty()) body["model"] = o.model_name;
  const std::string text = body.dump();
  const std::string request =
      "POST /v1/completions HTTP/1.1\r\nHost: " + host +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(text.size()) +
      "\r\n\r\n" + text;
  Level level;
  level.concurrency = concurrency;
  const int ep = ::epoll_create1(0);
  std::vector<HttpClient> clients(static_cast<size_t>(concurrency));
  int active = 0;
  // Sends the next request of `c` (connecting first if needed); false when it has none left.
  auto send_next = [&](HttpClient& c) {
    for (; c.left > 0; --c.left) {
      if (c.fd < 0) {
        c.fd = Connect(host, port);
        if (c.fd < 0) {
          level.samples.push_back(Sample{});
          continue;
        }
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = &c;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
        // Wait for the connection before sending: poll() on this one socket.
        pollfd p{c.fd, POLLOUT, 0};
        if (::poll(&p, 1, 5000) != 1 || (p.revents & (POLLERR | POLLHUP))) {
          ::close(c.fd);
          c.fd = -1;
          level.samples.push_back(Sample{});
          continue;
        }
      }
      c.buf.clear();
      c.scanned = 0;
      c.first = false;
      c.done = false;
      c.sample = Sample{};
      c.sent_at = Clock::now();
      // A request is a few hundred bytes: one send() takes it on an open connection.
      if (::send(c.fd, request.data(), request.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(request.size())) {
        ::close(c.fd);
        c.fd = -1;
        level.samples.push_back(Sample{});
        continue;
      }
      --c.left;
      return true;
    }
    return false;
  };
  const Clock::time_point start = Clock::now();
  for (HttpClient& c : clients) {
    c.left = o.requests;
    if (send_next(c)) ++active;
  }
  std::vector<epoll_event> events(static_cast<size_t>(concurrency));
  char chunk[65536];
  while (active > 0) {
    const int n = ::epoll_wait(ep, events.data(), concurrency, 30000);
    if (n <= 0) break;  // 30 s without a byte: the server is stuck; the rest count as failed
    for (int e = 0; e < n; ++e) {
      HttpClient& c = *static_cast<HttpClient*>(events[static_cast<size_t>(e)].data.ptr);
      bool closed = false;
      for (;;) {
        const ssize_t got = ::recv(c.fd, chunk, sizeof(chunk), 0);
        if (got > 0) {
          c.buf.append(chunk, static_cast<size_t>(got));
          continue;
        }
        closed = got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
        break;
      }
      const bool complete = ScanAnswer(&c);
      if (!complete && !closed) continue;
      c.sample.ok = complete && c.first;
      level.samples.push_back(c.sample);
      if (closed) {
        ::close(c.fd);
        c.fd = -1;
      }
      if (!send_next(c)) --active;
    }
  }
  for (HttpClient& c : clients) {
    if (c.fd >= 0) ::close(c.fd);
    for (; c.left > 0; --c.left) level.samples.push_back(Sample{});
  }
  ::close(ep);
  level.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return level;
}

// ---- Direct mode -------------------------------------------------------------------------------

Level RunDirect(const Options& o, infer::Model& model, infer::Scheduler& scheduler,
                int concurrency) {
  const std::vector<infer::TokenId> prompt = model.tokenizer().Encode(o.prompt).value();
  return RunClients(concurrency, o.requests, [&] {
    infer::Request req;
    req.prompt = prompt;
    req.sampling.max_tokens = o.max_tokens;
    req.sampling.temperature = 0;
    req.sampling.ignore_eos = true;
    const Clock::time_point t0 = Clock::now();
    Sample s;
    if (o.pull) {
      // Pull delivery: this thread takes each event with Next(), as a host program would.
      auto handle = scheduler.Submit(std::move(req));
      if (handle.ok()) {
        bool first = false;
        while (auto e = handle->Next()) {
          if (!first && !e->text.empty()) {
            first = true;
            s.ttft = std::chrono::duration<double>(Clock::now() - t0).count();
          }
        }
        const infer::RequestResult& result = handle->Wait();
        s.tokens = result.usage.completion_tokens;
        s.ok = first && result.finish_reason != infer::FinishReason::kError;
      }
    } else {
      // Push delivery (on_event / on_finish on the Scheduler's thread): the cheapest way to
      // take a stream out of the Scheduler, so the strictest baseline.
      std::mutex done_mu;
      std::condition_variable done_cv;
      bool finished = false;
      bool first = false;
      req.on_event = [&](const infer::StreamEvent& e) {
        if (!first && !e.text.empty()) {
          first = true;
          s.ttft = std::chrono::duration<double>(Clock::now() - t0).count();
        }
      };
      req.on_finish = [&](const infer::RequestResult& result) {
        std::lock_guard<std::mutex> lock(done_mu);
        s.tokens = result.usage.completion_tokens;
        s.ok = first && result.finish_reason != infer::FinishReason::kError;
        finished = true;
        done_cv.notify_one();
      };
      if (scheduler.Submit(std::move(req)).ok()) {
        std::unique_lock<std::mutex> lock(done_mu);
        done_cv.wait(lock, [&] { return finished; });
      }
    }
    return s;
  });
}

std::vector<int> ParseList(const char* s) {
  std::vector<int> out;
  for (const char* p = s; *p;) {
    out.push_back(std::atoi(p));
    const char* comma = std::strchr(p, ',');
    if (!comma) break;
    p = comma + 1;
  }
  return out;
}

int Usage() {
  std::fprintf(stderr,
               "usage: serve_load (--url http://HOST:PORT | --model MODEL.gguf) "
               "[--concurrency 1,8,32] [--requests 4] [--max-tokens 64] [--prompt TEXT] "
               "[--model-name NAME] [--threads N] [--pull] [--json]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--json" || a == "--pull") {
      (a == "--json" ? o.json : o.pull) = true;
      continue;
    }
    if (!(v = next())) return Usage();
    if (a == "--url") {
      o.url = v;
    } else if (a == "--model") {
      o.model = v;
    } else if (a == "--concurrency") {
      o.concurrency = ParseList(v);
    } else if (a == "--requests") {
      o.requests = std::atoi(v);
    } else if (a == "--max-tokens") {
      o.max_tokens = std::atoi(v);
    } else if (a == "--prompt") {
      o.prompt = v;
    } else if (a == "--model-name") {
      o.model_name = v;
    } else if (a == "--threads") {
      o.threads = std::atoi(v);
    } else {
      return Usage();
    }
  }
  std::string host;
  int port = 0;
  if (o.url.empty() == o.model.empty() || (!o.url.empty() && !ParseUrl(o.url, &host, &port)) ||
      o.requests < 1 || o.max_tokens < 1 || o.concurrency.empty()) {
    return Usage();
  }
  std::unique_ptr<infer::Model> model;
  std::unique_ptr<infer::Scheduler> scheduler;
  if (!o.model.empty()) {
    infer::ModelOptions mo;
    mo.path = o.model;
    mo.num_threads = o.threads;
    auto m = infer::Model::Load(mo);
    if (!m.ok()) {
      std::fprintf(stderr, "serve_load: %s\n", std::string(m.status().message()).c_str());
      return 1;
    }
    model = std::move(*m);
    infer::SchedulerOptions so;
    so.kv_cache_bytes = 512ull << 20;
    auto s = infer::Scheduler::Create(*model, so);
    if (!s.ok()) {
      std::fprintf(stderr, "serve_load: %s\n", std::string(s.status().message()).c_str());
      return 1;
    }
    scheduler = std::move(*s);
  }
  nlohmann::json out = nlohmann::json::array();
  if (!o.json) {
    std::printf("%6s %8s %10s %10s %10s %12s %6s\n", "conc", "requests", "req/s", "TTFT p50",
                "TTFT p99", "gen tok/s", "failed");
  }
  for (int c : o.concurrency) {
    const Level l = scheduler ? RunDirect(o, *model, *scheduler, c) : RunHttp(o, c);
    std::vector<double> ttft;
    int64_t tokens = 0;
    int failed = 0;
    for (const Sample& s : l.samples) {
      if (!s.ok) {
        ++failed;
        continue;
      }
      ttft.push_back(s.ttft);
      tokens += s.tokens;
    }
    const double n = static_cast<double>(l.samples.size());
    const nlohmann::json row = {{"mode", scheduler ? (o.pull ? "direct-pull" : "direct") : "http"},
                                {"concurrency", c},
                                {"requests", l.samples.size()},
                                {"failed", failed},
                                {"seconds", l.seconds},
                                {"requests_per_second", n / l.seconds},
                                {"ttft_p50", Percentile(ttft, 0.5)},
                                {"ttft_p99", Percentile(ttft, 0.99)},
                                {"generated_tokens", tokens},
                                {"generated_tokens_per_second", tokens / l.seconds}};
    out.push_back(row);
    if (!o.json) {
      std::printf("%6d %8zu %10.2f %9.3fs %9.3fs %12.1f %6d\n", c, l.samples.size(), n / l.seconds,
                  Percentile(ttft, 0.5), Percentile(ttft, 0.99), tokens / l.seconds, failed);
    }
  }
  if (o.json) std::printf("%s\n", out.dump(2).c_str());
  if (scheduler) scheduler->Shutdown(infer::Scheduler::ShutdownMode::kCancel);
  return 0;
}
