// infer-cli serve: the OpenAI-compatible server on one model (flags named as `vllm serve`'s,
// each also read from the environment variables of the deployment it replaces).
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "cli/cluster_command.h"
#include "cli/commands.h"
#include "infer/auth.h"
#include "infer/log.h"
#include "infer/model_set.h"
#include "infer/scheduler.h"
#include "infer/server.h"

namespace infer::cli {
namespace {

struct ServeFlags {
  std::string model;
  // A model set (models.yaml or JSON) instead of one model.
  std::string models_file;
  double models_file_poll_seconds = 2;
  std::string host_memory_limit;  // what a model set may reserve on the host; "": what it has
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string served_model_name;
  std::string dtype = "auto";
  int64_t max_model_len = 0;
  int max_num_seqs = 64;
  int max_queued_requests = 256;
  double queue_timeout = 60;
  int max_num_batched_tokens = 512;
  std::string kv_cache_memory;  // bytes, with an optional K/M/G suffix
  double kv_cache_memory_fraction = 0.25;
  double gpu_memory_utilization = 0.9;
  std::string device = "cpu";
  std::string kv_cache_dtype = "auto";
  int threads = 0;
  int io_threads = 2;
  double stream_interval_ms = 2;
  bool prefix_caching = true;
  int64_t seed = -1;
  double shutdown_timeout = 30;
  int max_n = 16;
  // Authentication.
  std::string users_file;
  std::vector<std::string> api_keys;
  std::vector<std::string> admin_api_keys;
  bool insecure = false;
  bool allow_unauthenticated = false;
  bool metrics_require_auth = false;
  bool chat_page = true;
  bool login_limit = true;
  int login_threads = 1;
  double users_file_poll_seconds = 2;
  // One model over several processes (see cluster_command.h).
  ClusterFlags cluster;
};

// The AuthStore the flags and environment ask for: a users file (--users-file), else the
// Secret layout in the environment (USER_LIST set), else API keys only; null when none of them.
absl::StatusOr<std::unique_ptr<AuthStore>> MakeAuthStore(const ServeFlags& f) {
  AuthOptions options;
  options.allow_insecure = f.insecure;
  options.login_limits.enabled = f.login_limit;
  if (const char* key = std::getenv("JWT_KEY")) options.jwt_key = key;
  auto add_keys = [&](const std::vector<std::string>& keys, const char* prefix, Role role) {
    for (const std::string& key : keys) {
      options.api_keys.push_back({absl::StrCat(prefix, options.api_keys.size() + 1), key, role});
    }
  };
  add_keys(f.api_keys, "key-", Role::kUser);
  add_keys(f.admin_api_keys, "admin-key-", Role::kAdmin);
  if (!f.users_file.empty()) return AuthStore::FromFile(f.users_file, options);
  if (std::getenv("USER_LIST") != nullptr) return AuthStore::FromEnvironment(options);
  if (!options.api_keys.empty()) return AuthStore::FromApiKeys(options);
  return std::unique_ptr<AuthStore>();
}

// Runs a task every period on a thread of its own, from Start until Stop (or destruction).
class Periodic {
 public:
  Periodic() = default;
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;
  ~Periodic() { Stop(); }

  void Start(double seconds, std::function<void()> task) {
    const auto period = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    thread_ = std::thread([this, period, task = std::move(task)] {
      for (;;) {
        {
          std::unique_lock<std::mutex> lock(mu_);
          if (cv_.wait_for(lock, period, [&] { return stop_; })) return;
        }
        task();
      }
    });
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

// A users file is watched: an edit (or a Kubernetes Secret volume update) reloads it.
void WatchUsers(Periodic& watch, const ServeFlags& f, AuthStore* auth) {
  if (auth == nullptr || f.users_file.empty() || f.users_file_poll_seconds <= 0) return;
  watch.Start(f.users_file_poll_seconds, [auth, &f] {
    auto reloaded = auth->ReloadIfChanged();
    if (reloaded.ok() && *reloaded) {
      std::fprintf(stderr, "infer-cli: %s changed: %zu user(s) loaded\n", f.users_file.c_str(),
                   auth->ListUsers().size());
    }
    // A refused reload is logged by the store; the users loaded before stay.
  });
}

void ReloadUsersOnSighup(AuthStore* auth) {
  if (auth == nullptr) {
    std::fprintf(stderr, "infer-cli: SIGHUP: no users to reload (authentication is off)\n");
  } else if (absl::Status s = auth->Reload(); s.ok()) {
    std::fprintf(stderr, "infer-cli: SIGHUP: users reloaded, %zu user(s)\n",
                 auth->ListUsers().size());
  } else {
    std::fprintf(stderr, "infer-cli: SIGHUP: reload refused, the users loaded before stay: %s\n",
                 std::string(s.message()).c_str());
  }
}

// SIGTERM, SIGINT and SIGHUP, taken by one thread of their own from the start (the signals stay
// blocked in every other thread). While the server is starting (a model loading, ranks joining)
// SIGTERM or SIGINT ends the process at once: nothing is served yet, and a pod being deleted must
// not wait for a join timeout. Once serving, Next() hands each signal to the main thread; once
// draining, a second SIGTERM or SIGINT ends the process at once.
class SignalTaker {
 public:
  SignalTaker() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    std::thread([this] { Loop(); }).detach();  // lives as long as the process
  }

  void MarkServing() { SetPhase(Phase::kServing); }
  void MarkDraining() { SetPhase(Phase::kDraining); }

  // The next signal taken while serving.
  int Next() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !taken_.empty(); });
    const int sig = taken_.front();
    taken_.pop_front();
    return sig;
  }

 private:
  enum class Phase { kStarting, kServing, kDraining };

  void SetPhase(Phase p) {
    std::lock_guard<std::mutex> lock(mu_);
    phase_ = p;
  }

  void Loop() {
    for (;;) {
      int sig = 0;
      if (sigwait(&set_, &sig) != 0) continue;
      const char* name = sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "SIGHUP";
      std::lock_guard<std::mutex> lock(mu_);
      if (sig != SIGHUP && phase_ == Phase::kStarting) {
        std::fprintf(stderr, "infer-cli: %s while starting: exiting\n", name);
        std::_Exit(0);
      }
      if (sig != SIGHUP && phase_ == Phase::kDraining) {
        std::fprintf(stderr, "infer-cli: second signal, exiting now\n");
        std::_Exit(1);
      }
      taken_.push_back(sig);
      cv_.notify_all();
    }
  }

  sigset_t set_;
  std::mutex mu_;
  std::condition_variable cv_;
  Phase phase_ = Phase::kStarting;  // guarded by mu_
  std::deque<int> taken_;           // guarded by mu_
};

// After SIGTERM or SIGINT: says so, makes a second signal end the process at once, and returns
// how long in-flight requests may take.
std::chrono::milliseconds StartDraining(const ServeFlags& f, int sig, SignalTaker& signals) {
  std::fprintf(stderr, "infer-cli: %s: finishing in-flight requests (up to %.0f s)\n",
               sig == SIGTERM ? "SIGTERM" : "SIGINT", f.shutdown_timeout);
  signals.MarkDraining();
  return std::chrono::milliseconds(static_cast<int64_t>(f.shutdown_timeout * 1000));
}

// A size flag ("512MiB", "2G", "1048576") into `*bytes`; false (after saying why) when it is
// not a size.
bool ParseSizeFlag(const char* flag, const std::string& value, uint64_t* bytes) {
  const std::optional<uint64_t> parsed = ParseByteSize(value);
  if (!parsed) {
    Fail(absl::StrCat(flag, ": '", value, "' is not a size (e.g. 536870912, 512MiB, 2GiB)"));
    return false;
  }
  *bytes = *parsed;
  return true;
}

ServerOptions MakeServerOptions(const ServeFlags& f, AuthStore* auth) {
  ServerOptions opts;
  opts.host = f.host;
  opts.port = f.port;
  opts.served_model_name = f.served_model_name;
  opts.io_threads = f.io_threads;
  opts.stream_flush_interval =
      std::chrono::microseconds(static_cast<int64_t>(f.stream_interval_ms * 1000.0));
  opts.max_n = f.max_n;
  if (f.seed >= 0) opts.seed = static_cast<uint64_t>(f.seed);
  opts.auth = auth;
  opts.allow_unauthenticated = f.allow_unauthenticated;
  opts.metrics_require_auth = f.metrics_require_auth;
  opts.chat_page = f.chat_page;
  opts.login_threads = f.login_threads;
  return opts;
}

// Ready once one generation has gone through the whole path.
bool WarmUp(Scheduler& scheduler) {
  Request warm;
  warm.prompt = {0};
  warm.sampling.max_tokens = 1;
  warm.sampling.temperature = 0;
  auto handle = scheduler.Submit(warm);
  return handle.ok() && handle->Wait().finish_reason != FinishReason::kError;
}

// A file's size and modification time, to notice an edit (or a Secret volume's swap).
std::pair<int64_t, int64_t> FileStamp(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return {-1, -1};
  return {static_cast<int64_t>(st.st_size),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

// Reads the models file and applies it: planned first, nothing changes when it does not fit.
void ReloadModelSet(ModelSet& set, const std::string& file, const char* why) {
  auto spec = LoadModelSetFile(file);
  if (!spec.ok()) {
    std::fprintf(stderr, "infer-cli: %s: reload refused, the models loaded before stay: %s\n", why,
                 std::string(spec.status().message()).c_str());
    set.ReportRefusedChange(std::string(spec.status().message()));
    return;
  }
  auto plan = set.Apply(*spec);
  if (!plan.ok()) {
    std::fprintf(stderr, "infer-cli: %s: reload refused: %s\n", why,
                 std::string(plan.status().message()).c_str());
    return;
  }
  std::fprintf(stderr, "infer-cli: %s: model set reloaded: %s\n", why, plan->Describe().c_str());
}

// `infer-cli serve --models FILE`: every model of the file, each with its replicas, behind one
// server. The file reloads on SIGHUP and when it changes.
int ServeModelSet(const ServeFlags& f, AuthStore* auth, SignalTaker& signals) {
  if (!f.model.empty() || !f.served_model_name.empty() || f.max_model_len != 0 ||
      !f.kv_cache_memory.empty() || f.cluster.tensor_parallel_size > 1 ||
      f.cluster.pipeline_parallel_size != 1) {
    return Fail(
        "--models: the model, --served-model-name, --max-model-len, --kv-cache-memory and "
        "the parallel layout are set per model in the file (path, name, context_length, "
        "scheduler.kv_cache_memory, tensor_parallel); drop them from the command line and the "
        "environment (MODEL_ID, MAX_MODEL_LEN, KV_CACHE_MEMORY, TENSOR_PARALLELISM)");
  }
  const ServeFlags defaults;
  if (f.device != defaults.device) {
    return Fail(absl::StrCat("--models: a model set runs on the CPU so far; --device ", f.device,
                             " (INFER_DEVICE) applies to a single model"));
  }
  if (f.kv_cache_dtype != defaults.kv_cache_dtype) {
    return Fail(
        absl::StrCat("--models: the model set's caches hold float32 so far; "
                     "--kv-cache-dtype ",
                     f.kv_cache_dtype, " (KV_CACHE_DTYPE) applies to a single model"));
  }
  if (f.max_queued_requests != defaults.max_queued_requests ||
      f.queue_timeout != defaults.queue_timeout) {
    return Fail(
        "--models: the queue's bounds are set per model in the file (scheduler.max_waiting, "
        "scheduler.queue_timeout); drop --max-queued-requests / --queue-timeout (and "
        "MAX_QUEUED_REQUESTS, QUEUE_TIMEOUT)");
  }
  if (f.cluster.encrypt ||
      f.cluster.join_timeout_seconds != defaults.cluster.join_timeout_seconds) {
    return Fail(
        "--models: a model set serves single-rank replicas; --cluster-encrypt and "
        "--cluster-join-timeout apply to a model spread over ranks (serve MODEL --tp N)");
  }
  auto spec = LoadModelSetFile(f.models_file);
  if (!spec.ok()) return Fail(std::string(spec.status().message()));
  ModelSetOptions so;
  so.default_threads = f.threads;
  if (!f.host_memory_limit.empty() &&
      !ParseSizeFlag("--host-memory-limit", f.host_memory_limit, &so.host_memory_limit_bytes)) {
    return 1;
  }
  so.drain_timeout = std::chrono::milliseconds(static_cast<int64_t>(f.shutdown_timeout * 1000));
  auto set = ModelSet::Create(so);
  if (!set.ok()) return Fail(std::string(set.status().message()));
  auto plan = (*set)->Apply(*spec);
  if (!plan.ok()) return Fail(absl::StrCat(f.models_file, ": ", plan.status().message()));
  std::fprintf(stderr, "infer-cli: %s: %s\n", f.models_file.c_str(), plan->Describe().c_str());
  auto server = Server::Start(**set, MakeServerOptions(f, auth));
  if (!server.ok()) return Fail(std::string(server.status().message()));
  for (const std::string& name : (*set)->names()) {
    auto lease = (*set)->Acquire(name);
    if (!lease.ok() || !WarmUp(lease->scheduler())) {
      return Fail(absl::StrCat("warm-up generation of model '", name, "' failed"));
    }
  }
  (*server)->MarkReady();
  std::fprintf(stderr, "infer-cli: serving %zu model(s) (%s) on http://%s:%d (ready)\n",
               (*set)->names().size(), absl::StrJoin((*set)->names(), ", ").c_str(), f.host.c_str(),
               (*server)->port());

  // The files are watched: an edit (or a ConfigMap or Secret volume update) reloads them.
  Periodic users_watch;
  WatchUsers(users_watch, f, auth);
  Periodic models_watch;
  if (f.models_file_poll_seconds > 0) {
    models_watch.Start(f.models_file_poll_seconds,
                       [&set, &f, stamp = FileStamp(f.models_file)]() mutable {
                         const auto now = FileStamp(f.models_file);
                         if (now == stamp) return;
                         stamp = now;
                         ReloadModelSet(**set, f.models_file, (f.models_file + " changed").c_str());
                       });
  }
  signals.MarkServing();
  int sig = 0;
  for (;;) {
    sig = signals.Next();
    if (sig != SIGHUP) break;
    ReloadUsersOnSighup(auth);
    ReloadModelSet(**set, f.models_file, "SIGHUP");
  }
  users_watch.Stop();
  models_watch.Stop();
  (*server)->Shutdown(StartDraining(f, sig, signals));
  server->reset();
  set->reset();
  std::fprintf(stderr, "infer-cli: stopped\n");
  return 0;
}

int RunServe(const ServeFlags& f) {
  // Signals are taken by one thread from here on (every thread started later blocks them).
  static auto* signals = new SignalTaker();
  // vLLM's --dtype (the seed's DTYPE) names the compute type. The CPU backend uses each weight
  // in its stored type and computes in float32; a request for float16 or bfloat16 compute is
  // refused rather than ignored.
  if (f.dtype != "auto" && f.dtype != "float32" && f.dtype != "float") {
    return Fail("--dtype (DTYPE) '" + f.dtype +
                "': this build computes in float32 on the CPU (weights stay in their stored "
                "type); use auto or float32");
  }
  // GPU_MEMORY_UTIL (the seed's) sets both shares, each read on its own device; a share given
  // by flag for the other device would be ignored, so it is refused.
  const ServeFlags defaults;
  const bool util_from_env = std::getenv("GPU_MEMORY_UTIL") != nullptr;
  const bool on_cpu = f.device == "cpu";
  if (!util_from_env && on_cpu && f.gpu_memory_utilization != defaults.gpu_memory_utilization) {
    return Fail(
        "--gpu-memory-utilization applies with --device cuda; on the CPU the KV cache's share of "
        "free memory is --kv-cache-memory-fraction");
  }
  if (!util_from_env && !on_cpu &&
      f.kv_cache_memory_fraction != defaults.kv_cache_memory_fraction) {
    return Fail("--kv-cache-memory-fraction applies on the CPU; with --device " + f.device +
                " the KV cache's share is --gpu-memory-utilization");
  }

  // One line per request (and the library's notices) on stderr.
  SetMinLogSeverity(LogSeverity::kInfo);

  // Users first: a bad users file or Secret fails before the model loads.
  auto auth = MakeAuthStore(f);
  if (!auth.ok()) return Fail(absl::StrCat("authentication: ", auth.status().message()));
  if (*auth) {
    std::fprintf(
        stderr, "infer-cli: authentication on: %zu user(s), %zu API key(s)%s\n",
        (*auth)->ListUsers().size(), f.api_keys.size() + f.admin_api_keys.size(),
        (*auth)->expiry_checks_disabled() ? " (token expiry NOT checked: --insecure)" : "");
  } else {
    std::fprintf(stderr, "infer-cli: no users and no API keys: authentication is off%s\n",
                 f.allow_unauthenticated ? " (--allow-unauthenticated)"
                                         : "; only a loopback address may be bound");
  }

  if (!f.models_file.empty()) return ServeModelSet(f, auth->get(), *signals);
  if (!f.host_memory_limit.empty()) {
    return Fail(
        "--host-memory-limit (INFER_HOST_MEMORY_LIMIT) bounds a model set: use it with "
        "--models");
  }

  // The other ranks first (started here when they run on this host): Load waits for them.
  auto group = LeaderCluster::Start(f.cluster, f.threads);
  if (!group.ok()) return Fail(absl::StrCat("cluster: ", group.status().message()));
  Cluster* cluster = (*group)->cluster();
  absl::StatusOr<std::string> path = ResolveModelPath(f.model);
  if (!path.ok()) return Fail(std::string(path.status().message()));
  auto model = LoadModel(*path, f.threads, f.max_model_len, cluster, f.device);
  if (!model.ok()) return Fail(std::string(model.status().message()));

  SchedulerOptions so;
  so.max_num_seqs = f.max_num_seqs;
  so.max_num_batched_tokens = f.max_num_batched_tokens;
  so.max_waiting = f.max_queued_requests;
  so.queue_timeout = std::chrono::milliseconds(static_cast<int64_t>(f.queue_timeout * 1000));
  so.enable_prefix_caching = f.prefix_caching;
  so.kv_cache_memory_fraction = f.kv_cache_memory_fraction;
  so.gpu_memory_utilization = f.gpu_memory_utilization;
  so.kv_cache_dtype = KvCacheDTypeOf(f.kv_cache_dtype);
  if (!f.kv_cache_memory.empty() &&
      !ParseSizeFlag("--kv-cache-memory", f.kv_cache_memory, &so.kv_cache_bytes)) {
    return 1;
  }
  auto scheduler = Scheduler::Create(**model, so);
  if (!scheduler.ok()) return Fail(std::string(scheduler.status().message()));

  ServerOptions opts = MakeServerOptions(f, auth->get());
  // A hub id (MODEL_ID="org/name") is served under that id, as vLLM does, not the snapshot's.
  if (opts.served_model_name.empty() && !f.model.empty() && *path != f.model) {
    opts.served_model_name = f.model;
  }
  if (cluster != nullptr) opts.health_check = [cluster] { return cluster->health(); };
  auto server = Server::Start(**model, **scheduler, opts);
  if (!server.ok()) return Fail(std::string(server.status().message()));

  if (!WarmUp(**scheduler)) return Fail("warm-up generation failed");
  (*server)->MarkReady();
  std::fprintf(stderr, "infer-cli: serving %s on http://%s:%d (ready)\n",
               (*model)->info().path.c_str(), f.host.c_str(), (*server)->port());

  Periodic users_watch;
  WatchUsers(users_watch, f, auth->get());
  std::mutex watch_mu;
  std::condition_variable watch_cv;
  bool stop_watch = false;  // guarded by watch_mu

  // A lost rank cannot come back into this group (its KV cache and slice are gone): after the
  // grace period, in which probes see /health and /ready fail and in-flight requests get their
  // errors, the leader exits non-zero so that its supervisor restarts the whole group.
  std::atomic<bool> rank_lost{false};
  std::thread monitor;
  if (cluster != nullptr) {
    monitor = std::thread([&] {
      for (;;) {
        {
          std::unique_lock<std::mutex> lock(watch_mu);
          if (watch_cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return stop_watch; })) {
            return;
          }
        }
        const absl::Status health = cluster->health();
        if (health.ok()) continue;
        std::fprintf(stderr, "infer-cli: %s; exiting in %.0f s so that the group restarts\n",
                     std::string(health.message()).c_str(), f.cluster.exit_delay_seconds);
        std::unique_lock<std::mutex> lock(watch_mu);
        if (!watch_cv.wait_for(lock,
                               std::chrono::milliseconds(
                                   static_cast<int64_t>(f.cluster.exit_delay_seconds * 1000)),
                               [&] { return stop_watch; })) {
          rank_lost = true;
          kill(getpid(), SIGTERM);
        }
        return;
      }
    });
  }

  signals->MarkServing();
  int sig = 0;
  for (;;) {
    sig = signals->Next();
    if (sig != SIGHUP) break;
    ReloadUsersOnSighup(auth->get());
  }
  users_watch.Stop();
  {
    std::lock_guard<std::mutex> lock(watch_mu);
    stop_watch = true;
  }
  watch_cv.notify_all();
  if (monitor.joinable()) monitor.join();
  if (rank_lost) {
    (*server)->Shutdown(std::chrono::seconds(1));
    (*scheduler)->Shutdown(Scheduler::ShutdownMode::kCancel);
    std::fprintf(stderr, "infer-cli: stopped: a rank of the cluster was lost\n");
    return 3;
  }
  (*server)->Shutdown(StartDraining(f, sig, *signals));
  (*scheduler)->Shutdown(Scheduler::ShutdownMode::kCancel);
  std::fprintf(stderr, "infer-cli: stopped\n");
  return 0;
}

}  // namespace

Action RegisterServe(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  app.add_option("model", f->model, "GGUF file or Hugging Face folder (default: SmolLM2)")
      ->envname("MODEL_ID");
  app.add_option("--model,-m", f->model, "Same as the positional MODEL");
  app.add_option("--models", f->models_file,
                 "A model set (YAML or JSON): several models, each with its replicas, memory, "
                 "context and sampling defaults; reloaded on change and on SIGHUP")
      ->envname("INFER_MODELS_FILE");
  app.add_option("--host-memory-limit", f->host_memory_limit,
                 "With --models: host memory the replicas may reserve in all (e.g. 8GiB; "
                 "default: what the host or the pod's limit has free)")
      ->envname("INFER_HOST_MEMORY_LIMIT");
  app.add_option("--models-poll", f->models_file_poll_seconds,
                 "Seconds between checks of --models for changes (0: only on SIGHUP)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--host", f->host, "Address to bind")->envname("HOST");
  app.add_option("--port", f->port, "Port")->envname("PORT")->check(CLI::Range(0, 65535));
  app.add_option("--served-model-name", f->served_model_name,
                 "Model id in the API (default: the file's name)")
      ->envname("MODEL_NAME");
  app.add_option("--dtype", f->dtype,
                 "Compute type: auto or float32 (the CPU backend; weights keep their stored type)")
      ->envname("DTYPE");
  app.add_option("--max-model-len", f->max_model_len, "Context length to serve (0: the model's)")
      ->envname("MAX_MODEL_LEN")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-num-seqs", f->max_num_seqs, "Sequences per step")
      ->envname("MAX_NUM_SEQS")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-num-batched-tokens", f->max_num_batched_tokens, "Tokens per step")
      ->envname("MAX_NUM_BATCHED_TOKENS")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-queued-requests", f->max_queued_requests,
                 "Requests waiting to start at most; beyond it 503 with Retry-After")
      ->envname("MAX_QUEUED_REQUESTS")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--queue-timeout", f->queue_timeout,
                 "Seconds a request may wait to start before it is answered 503 (0: no limit)")
      ->envname("QUEUE_TIMEOUT")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--kv-cache-memory", f->kv_cache_memory,
                 "KV cache size (bytes, or 512M, 2G); default: a fraction of free memory")
      ->envname("KV_CACHE_MEMORY");
  app.add_option("--kv-cache-memory-fraction", f->kv_cache_memory_fraction,
                 "Without --kv-cache-memory the KV cache holds --max-num-seqs full contexts, at "
                 "most this share of the free memory (the pod's limit counts), at least one")
      ->envname("GPU_MEMORY_UTIL")
      ->check(CLI::Range(0.01, 1.0));
  app.add_option("--gpu-memory-utilization", f->gpu_memory_utilization,
                 "With --device cuda: the share of the GPU's memory that weights, activations "
                 "and the KV cache may take together; the cache gets what is left")
      ->envname("GPU_MEMORY_UTIL")
      ->check(CLI::Range(0.01, 1.0));
  AddDeviceFlag(app, f->device);
  AddKvCacheDtypeFlag(app, f->kv_cache_dtype);
  app.add_option("--threads", f->threads, "Model worker threads (0: all cores)")
      ->envname("INFER_THREADS")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--io-threads", f->io_threads, "HTTP threads")->check(CLI::Range(1, 256));
  app.add_option("--stream-interval-ms", f->stream_interval_ms,
                 "Least time between two writes of one stream; tokens in between go out "
                 "together (0: each at once)")
      ->check(CLI::Range(0.0, 1000.0));
  app.add_flag("--enable-prefix-caching,!--no-enable-prefix-caching", f->prefix_caching,
               "Share KV blocks of identical prompt prefixes (default on)")
      ->envname("ENABLE_PREFIX_CACHING");
  app.add_option("--seed", f->seed, "Seed for requests that give none (default: random)")
      ->envname("SEED");
  app.add_option("--shutdown-timeout", f->shutdown_timeout,
                 "Seconds to finish in-flight requests after SIGTERM")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-n", f->max_n, "Largest accepted n")->check(CLI::Range(1, 128));
  app.add_option("--users-file", f->users_file,
                 "Users (YAML or JSON, or a Kubernetes Secret manifest); reloaded on change and "
                 "on SIGHUP. Without it, USER_LIST in the environment (the Secret layout)")
      ->envname("INFER_USERS_FILE");
  app.add_option("--api-key", f->api_keys,
                 "A static API key (>= 16 bytes) accepted as a bearer token, role user; repeatable")
      ->envname("INFER_API_KEY");
  app.add_option("--admin-api-key", f->admin_api_keys,
                 "A static API key with role admin; repeatable");
  app.add_flag("--insecure", f->insecure,
               "Honour SKIP_EXP_CHECK=true (token expiry not checked); warns at every start");
  app.add_flag("--allow-unauthenticated", f->allow_unauthenticated,
               "Allow a non-loopback --host with no users and no API keys");
  app.add_flag("--chat-page,!--no-chat-page", f->chat_page,
               "Serve the chat page at / (log in, pick a model, chat; default on)");
  app.add_flag("--metrics-require-auth", f->metrics_require_auth,
               "Put /metrics behind the bearer check too");
  app.add_flag("--login-limit,!--no-login-limit", f->login_limit,
               "Limit failed logins per username and client address (default on; off only for "
               "benchmarks and trusted networks)");
  app.add_option("--login-threads", f->login_threads,
                 "Threads that check passwords for POST /token")
      ->check(CLI::Range(1, 64));
  app.add_option("--users-file-poll", f->users_file_poll_seconds,
                 "Seconds between checks of --users-file for changes (0: only on SIGHUP)")
      ->check(CLI::NonNegativeNumber);
  AddClusterFlags(app, f->cluster);
  app.add_option("--cluster-address", f->cluster.address,
                 "Where the leader listens for its workers (host:port; default 127.0.0.1 and a "
                 "free port with local workers, 0.0.0.0:29500 with LWS_LEADER_ADDRESS)");
  app.add_flag_callback(
      "--spawn-workers", [f] { f->cluster.spawn_workers = true; },
      "Start the other ranks as child processes on this host (the default unless "
      "LWS_LEADER_ADDRESS is set)");
  app.add_flag_callback(
      "--no-spawn-workers", [f] { f->cluster.spawn_workers = false; },
      "Wait for `infer-cli worker` processes started elsewhere to join");
  app.add_option("--cluster-exit-delay", f->cluster.exit_delay_seconds,
                 "Seconds between losing a rank and exiting with status 3")
      ->check(CLI::NonNegativeNumber);
  return [f] { return RunServe(*f); };
}

}  // namespace infer::cli
