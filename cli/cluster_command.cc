#include "cli/cluster_command.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "infer/log.h"

namespace infer::cli {
namespace {

// Applies the flags over the environment's cluster settings.
absl::StatusOr<ClusterOptions> ResolveOptions(const ClusterFlags& f, int threads) {
  ClusterOptions defaults;
  defaults.tensor_parallel_size = std::max(1, f.tensor_parallel_size);
  defaults.pipeline_parallel_size = f.pipeline_parallel_size;
  absl::StatusOr<ClusterOptions> o = ClusterOptionsFromEnvironment(defaults);
  if (!o.ok()) return o.status();
  // Flags win over the environment (CLI11 already read TENSOR_PARALLELISM and friends); an
  // unset tensor parallelism keeps what the environment derived (LWS_GROUP_SIZE).
  if (f.tensor_parallel_size > 0) o->tensor_parallel_size = f.tensor_parallel_size;
  o->pipeline_parallel_size = f.pipeline_parallel_size;
  if (!f.address.empty()) o->address = f.address;
  if (f.rank >= 0) o->rank = f.rank;
  if (!f.secret_file.empty()) {
    std::FILE* in = std::fopen(f.secret_file.c_str(), "rb");
    if (in == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--cluster-secret-file: cannot read '", f.secret_file, "'"));
    }
    std::string secret;
    char buf[256];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), in)) > 0) secret.append(buf, n);
    std::fclose(in);
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    o->secret = secret;
  }
  o->timeout = std::chrono::milliseconds(static_cast<int64_t>(f.timeout_seconds * 1000));
  o->join_timeout = std::chrono::milliseconds(static_cast<int64_t>(f.join_timeout_seconds * 1000));
  o->encrypt = f.encrypt;
  o->num_threads = threads;
  return o;
}

std::string RandomSecret() {
  std::string out;
  std::FILE* in = std::fopen("/dev/urandom", "rb");
  unsigned char b[32] = {};
  if (in != nullptr) {
    if (std::fread(b, 1, sizeof(b), in) != sizeof(b)) out.clear();
    std::fclose(in);
  }
  for (unsigned char c : b) absl::StrAppend(&out, absl::Hex(c, absl::kZeroPad2));
  return out;
}

int RunWorker(const ClusterFlags& f, int threads) {
  SetMinLogSeverity(LogSeverity::kInfo);
  // SIGTERM (the kubelet stopping the pod; as PID 1 there is no default action) and SIGINT are
  // taken by one thread: before the group is joined the worker just exits; once joined it leaves
  // the group cleanly (the leader sees a leave, not a crash) and exits 0; a second signal ends
  // it at once.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // The joined cluster, or null; Leave() does not block, so the signal thread holds the lock
  // while it calls it and the cluster cannot go away underneath.
  static std::mutex joined_mu;
  static Cluster* joined = nullptr;
  std::thread([signals]() mutable {
    int sig = 0;
    sigwait(&signals, &sig);
    const char* name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
    {
      std::lock_guard<std::mutex> lock(joined_mu);
      if (joined == nullptr) {
        std::fprintf(stderr, "infer-cli: %s outside the group: exiting\n", name);
        std::_Exit(0);
      }
      std::fprintf(stderr, "infer-cli: %s: leaving the group\n", name);
      joined->Leave();
    }
    sigwait(&signals, &sig);
    std::fprintf(stderr, "infer-cli: second signal, exiting now\n");
    std::_Exit(1);
  }).detach();
  absl::StatusOr<ClusterOptions> o = ResolveOptions(f, threads);
  if (!o.ok()) return Fail(std::string(o.status().message()));
  if (o->rank <= 0) return Fail("worker: --rank (or LWS_WORKER_INDEX) must be 1 or more");
  if (o->secret.empty()) {
    return Fail(
        "worker: no cluster secret (INFER_CLUSTER_SECRET, INFER_CLUSTER_SECRET_FILE or "
        "--cluster-secret-file)");
  }
  auto cluster = Cluster::Create(*o);
  if (!cluster.ok()) return Fail(std::string(cluster.status().message()));
  {
    std::lock_guard<std::mutex> lock(joined_mu);
    joined = cluster->get();
  }
  const absl::Status done = (*cluster)->RunWorker();
  {
    std::lock_guard<std::mutex> lock(joined_mu);
    joined = nullptr;
  }
  if (!done.ok()) return Fail(absl::StrCat("worker rank ", o->rank, ": ", done.message()));
  return 0;
}

}  // namespace

void AddClusterFlags(CLI::App& app, ClusterFlags& f) {
  app.add_option("--tensor-parallel-size,--tp", f.tensor_parallel_size,
                 "Ranks that split each layer (heads and FFN)")
      ->envname("TENSOR_PARALLELISM")
      ->check(CLI::Range(1, 64));
  app.add_option("--pipeline-parallel-size,--pp", f.pipeline_parallel_size,
                 "Pipeline stages (contiguous ranges of layers)")
      ->envname("PIPELINE_PARALLELISM")
      ->check(CLI::Range(1, 64));
  app.add_option("--cluster-secret-file", f.secret_file,
                 "File holding the secret every rank must know (or INFER_CLUSTER_SECRET)")
      ->envname("INFER_CLUSTER_SECRET_FILE");
  app.add_option("--cluster-timeout", f.timeout_seconds,
                 "Seconds a rank may stay silent inside a step before it counts as gone")
      ->check(CLI::PositiveNumber);
  app.add_option("--cluster-join-timeout", f.join_timeout_seconds,
                 "Seconds the leader waits for every rank and a worker for the leader (whose "
                 "name may not resolve yet) before giving up")
      ->envname("INFER_CLUSTER_JOIN_TIMEOUT")
      ->check(CLI::PositiveNumber);
  app.add_flag("--cluster-encrypt", f.encrypt,
               "Encrypt the frames between ranks (AES-128-GCM; they are always integrity-checked); "
               "every rank must agree")
      ->envname("INFER_CLUSTER_ENCRYPT");
}

absl::StatusOr<std::unique_ptr<LeaderCluster>> LeaderCluster::Start(const ClusterFlags& f,
                                                                    int threads) {
  auto out = std::make_unique<LeaderCluster>();
  absl::StatusOr<ClusterOptions> o = ResolveOptions(f, threads);
  if (!o.ok()) return o.status();
  if (o->tensor_parallel_size * o->pipeline_parallel_size == 1) return out;
  o->rank = 0;
  const bool remote = std::getenv("LWS_LEADER_ADDRESS") != nullptr;
  const bool spawn = f.spawn_workers.value_or(!remote);
  if (spawn && f.address.empty()) o->address = "127.0.0.1:0";
  if (o->secret.empty()) {
    if (!spawn) {
      return absl::InvalidArgumentError(
          "the workers run elsewhere but no cluster secret is set (INFER_CLUSTER_SECRET, "
          "INFER_CLUSTER_SECRET_FILE or --cluster-secret-file)");
    }
    o->secret = RandomSecret();  // only this process and its children know it
  }
  absl::StatusOr<std::unique_ptr<Cluster>> cluster = Cluster::Create(*o);
  if (!cluster.ok()) return cluster.status();
  out->cluster_ = *std::move(cluster);
  if (!spawn) return out;
  const std::string leader = absl::StrCat("127.0.0.1:", out->cluster_->port());
  const int world = o->tensor_parallel_size * o->pipeline_parallel_size;
  for (int r = 1; r < world; ++r) {
    std::vector<std::string> args = {
        "infer-cli",
        "worker",
        "--leader",
        leader,
        "--rank",
        std::to_string(r),
        "--tensor-parallel-size",
        std::to_string(o->tensor_parallel_size),
        "--pipeline-parallel-size",
        std::to_string(o->pipeline_parallel_size),
        "--threads",
        std::to_string(threads),
        "--cluster-timeout",
        std::to_string(f.timeout_seconds),
        "--cluster-join-timeout",
        std::to_string(f.join_timeout_seconds),
    };
    if (f.encrypt) args.push_back("--cluster-encrypt");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string secret = o->secret;
    const pid_t pid = fork();
    if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
    if (pid == 0) {
      // The child dies with its leader; it takes the secret from its environment only.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      sigset_t none;
      sigemptyset(&none);
      pthread_sigmask(SIG_SETMASK, &none, nullptr);
      setenv("INFER_CLUSTER_SECRET", secret.c_str(), 1);
      unsetenv("INFER_CLUSTER_SECRET_FILE");
      unsetenv("LWS_LEADER_ADDRESS");
      unsetenv("LWS_WORKER_INDEX");
      unsetenv("LWS_GROUP_SIZE");
      execv("/proc/self/exe", argv.data());
      std::fprintf(stderr, "infer-cli: cannot start worker rank %d: %s\n", r, std::strerror(errno));
      std::_Exit(127);
    }
    out->children_.push_back(pid);
    std::fprintf(stderr, "infer-cli: started worker rank %d (pid %d)\n", r, static_cast<int>(pid));
  }
  return out;
}

LeaderCluster::~LeaderCluster() {
  cluster_.reset();  // tells the workers to stop
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (pid_t pid : children_) {
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

Action RegisterWorker(CLI::App& app) {
  auto f = std::make_shared<ClusterFlags>();
  auto threads = std::make_shared<int>(0);
  AddClusterFlags(app, *f);
  app.add_option("--leader", f->address, "The leader's host:port (or LWS_LEADER_ADDRESS)");
  app.add_option("--rank", f->rank, "This worker's rank (or LWS_WORKER_INDEX)")
      ->check(CLI::Range(1, 4095));
  app.add_option("--threads", *threads, "Model worker threads (0: all cores)")
      ->envname("INFER_THREADS")
      ->check(CLI::NonNegativeNumber);
  return [f, threads] { return RunWorker(*f, *threads); };
}

}  // namespace infer::cli
