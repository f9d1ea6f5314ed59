// Cluster: rank bootstrap over the TCP communicator, the leader's runner (each step broadcast to
// every rank, then this rank's stage), and the workers' command loop. See include/infer/cluster.h.
//
// Every rank holds the same block tables (the leader's block manager decides them) and its own
// part of every KV cache: the caches are created, used and freed by commands, in the same order
// on every rank. A step: the leader broadcasts the batch; each pipeline stage runs its layers
// (its tensor-parallel group all-reducing inside them) and hands its hidden states to the same
// tensor-parallel rank of the next stage; the last stage's first rank sends the logits back to
// the leader. Stages run one after another (no micro-batching yet): pipeline parallelism here
// spreads memory, not time.
#include "infer/cluster.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "libinfer/cluster/step_protocol.h"
#include "libinfer/comm/status_exchange.h"
#include "libinfer/comm/tcp_communicator.h"
#include "libinfer/model/parallelism.h"
#include "libinfer/model/weight_source.h"
#include "libinfer/util/cpu_features.h"
#include "libinfer/util/logging.h"
#include "libinfer/util/status_macros.h"
#include "libinfer/util/thread_guard.h"

namespace infer {
namespace {

using cluster::CommandHeader;
using cluster::CommandKind;
using Clock = std::chrono::steady_clock;

// Largest command payload a worker accepts (a step of 64k tokens with long block tables fits).
constexpr uint64_t kMaxCommandBytes = 64ull << 20;

// "host:port" -> (host, port).
absl::StatusOr<std::pair<std::string, uint16_t>> SplitAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster address: '", address, "' is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::pair<std::string, uint16_t>{host, static_cast<uint16_t>(port)};
}

// The rank that a communicator error names ("rank 2 (...) closed the connection"), or -1.
int RankNamedIn(const absl::Status& status) {
  const std::string_view msg(status.message().data(), status.message().size());
  const size_t at = msg.find("rank ");
  if (at == std::string_view::npos) return -1;
  int rank = 0;
  size_t i = at + 5;
  if (i >= msg.size() || msg[i] < '0' || msg[i] > '9') return -1;
  for (; i < msg.size() && msg[i] >= '0' && msg[i] <= '9' && rank < 100000; ++i) {
    rank = rank * 10 + (msg[i] - '0');
  }
  return rank;
}

}  // namespace

// ---- The cluster ------------------------------------------------------------------------------

class Cluster::Impl : public ModelParallelism {
 public:
  explicit Impl(const ClusterOptions& options) : options_(options) {}
  ~Impl() override;

  absl::Status Init();
  absl::Status WaitForRanks();
  absl::Status RunWorker();
  // What a worker holds between the leader's commands.
  struct WorkerState {
    std::unique_ptr<WeightSource> weights;
    std::unique_ptr<ModelRunner> runner;
    std::map<uint64_t, std::unique_ptr<KvCache>> caches;
    std::vector<uint8_t> payload;  // the command being served
    cluster::ForwardCommand step;
    std::vector<float> out;
  };
  absl::Status ReceiveCommand(comm::Timeout idle, CommandHeader* header,
                              std::vector<uint8_t>* payload);
  absl::Status WorkerLoad(WorkerState& w);
  absl::Status WorkerCreateCache(WorkerState& w);
  absl::Status WorkerForward(WorkerState& w);
  // A failed command: OK when this worker was asked to leave (it tells the others), else the
  // rank is lost.
  absl::Status LeftOrLost(absl::Status s);
  void Leave();
  absl::Status health() const;
  std::vector<RankState> ranks() const;

  // ModelParallelism.
  absl::Status StartLoad(const ModelOptions& options) override;
  absl::StatusOr<RunnerLayout> LayoutFor(const ModelConfig& config) const override;
  comm::Communicator* tensor_parallel_comm() override { return tp_comm_.get(); }
  comm::Timeout timeout() const override { return options_.timeout; }
  absl::StatusOr<std::unique_ptr<ModelRunner>> FinishLoad(
      std::unique_ptr<ModelRunner> local) override;

  // Leader: sends a command to every worker (header, then payload). Call with command_mu_.
  absl::Status SendCommand(CommandKind kind, std::vector<uint8_t> payload);
  // Every rank's status record, in rank order; the first error names its rank.
  absl::Status GatherStatus(const absl::Status& mine, comm::Timeout timeout);
  // This rank's part of one step (see the file comment); the leader gets the logits in `out`.
  absl::Status RunStage(ModelRunner& local, KvCache& cache, const ForwardBatch& batch,
                        std::vector<float>& out);
  // Records the first lost rank; returns `status`.
  absl::Status Lost(absl::Status status);
  absl::Status Broken() const;

  int world_size() const { return options_.tensor_parallel_size * options_.pipeline_parallel_size; }
  int stage() const { return options_.rank / options_.tensor_parallel_size; }
  int tp_rank() const { return options_.rank % options_.tensor_parallel_size; }

  ClusterOptions options_;
  std::unique_ptr<comm::TcpRendezvous> rendezvous_;
  std::unique_ptr<comm::Communicator> world_;
  std::unique_ptr<comm::Communicator> tp_comm_;
  std::vector<std::string> addresses_;  // per rank, as it joined (leader); under state_mu_

  // Commands go out one at a time (steps, cache operations, heartbeats).
  std::mutex command_mu_;
  Clock::time_point last_command_ = Clock::now();
  uint64_t next_cache_id_ = 1;
  std::vector<float> hidden_;  // a stage's input, received from the stage before

  mutable std::mutex state_mu_;
  absl::Status lost_;  // first failure: OK while every rank is alive
  int lost_rank_ = -1;

  // The leader's heartbeat.
  std::thread heartbeat_;
  std::mutex heartbeat_mu_;
  std::condition_variable heartbeat_cv_;
  bool stopping_ = false;

  // A worker asked to leave (Cluster::Leave): RunWorker tells the others and returns OK.
  std::atomic<bool> leaving_{false};

  // The ranks of pipeline stage `stage`'s tensor-parallel group.
  std::vector<int> TensorParallelGroup(int stage) const;

  class ClusterKvCache;
  class LeaderRunner;
};

// A KV cache whose parts live on every rank: this rank's part, and the id the commands name.
class Cluster::Impl::ClusterKvCache final : public KvCache {
 public:
  ClusterKvCache(Cluster::Impl& cluster, uint64_t id, std::unique_ptr<KvCache> local)
      : cluster_(cluster), id_(id), local_(std::move(local)) {}
  ~ClusterKvCache() override {
    std::lock_guard<std::mutex> lock(cluster_.command_mu_);
    if (!cluster_.Broken().ok()) return;
    absl::Status s = cluster_.SendCommand(CommandKind::kFreeCache,
                                          cluster::Encode(cluster::CacheCommand{id_, 0, 0}));
    if (!s.ok()) (void)cluster_.Lost(s);
  }
  int64_t block_size() const override { return local_->block_size(); }
  int64_t num_blocks() const override { return local_->num_blocks(); }
  uint64_t bytes() const override { return local_->bytes(); }
  PagedKvCache* paged() override { return local_->paged(); }
  uint64_t id() const { return id_; }
  KvCache& local() { return *local_; }

 private:
  Cluster::Impl& cluster_;
  uint64_t id_;
  std::unique_ptr<KvCache> local_;
};

// The leader's runner: the whole model as the engine sees it (tokens in, logits out), each step
// run on every rank.
class Cluster::Impl::LeaderRunner final : public ModelRunner {
 public:
  LeaderRunner(Cluster::Impl& cluster, std::unique_ptr<ModelRunner> local)
      : cluster_(cluster), local_(std::move(local)) {
    whole_.end_layer = local_->config().num_layers;
  }
  const ModelConfig& config() const override { return local_->config(); }
  const RunnerLayout& layout() const override { return whole_; }
  // The largest share any rank holds (stages and KV-head groups need not divide evenly), so
  // that a budget the engine sets holds on every rank.
  uint64_t KvBytesPerBlock(int64_t block_size, DType dtype) const override {
    const ClusterOptions& o = cluster_.options_;
    KvCacheShape largest = WholeModelKvShape(config());
    largest.num_layers = LargestShare(largest.num_layers, o.pipeline_parallel_size);
    largest.num_kv_heads = LargestShare(largest.num_kv_heads, o.tensor_parallel_size);
    largest.dtype = dtype;
    return std::max(local_->KvBytesPerBlock(block_size, dtype), largest.BytesPerBlock(block_size));
  }
  absl::StatusOr<std::unique_ptr<KvCache>> CreateKvCache(int64_t block_size, int64_t num_blocks,
                                                         DType dtype) override {
    if (dtype != kHostKvDType) {
      // The cache command carries no element type yet: every rank's part is F32.
      return absl::InvalidArgumentError(absl::StrCat("KV cache: a cluster's ranks hold ",
                                                     DTypeName(kHostKvDType), ", not ",
                                                     DTypeName(dtype)));
    }
    std::lock_guard<std::mutex> lock(cluster_.command_mu_);
    INFER_RETURN_IF_ERROR(cluster_.Broken());
    const uint64_t id = cluster_.next_cache_id_++;
    absl::Status sent =
        cluster_.SendCommand(CommandKind::kCreateCache,
                             cluster::Encode(cluster::CacheCommand{id, block_size, num_blocks}));
    if (!sent.ok()) return cluster_.Lost(sent);
    absl::StatusOr<std::unique_ptr<KvCache>> local =
        local_->CreateKvCache(block_size, num_blocks, dtype);
    absl::Status all = cluster_.GatherStatus(local.status(), cluster_.options_.timeout);
    if (!all.ok()) {
      if (absl::IsUnavailable(all) || absl::IsDeadlineExceeded(all)) return cluster_.Lost(all);
      // Some rank could not make its part: free the others'.
      absl::Status s = cluster_.SendCommand(CommandKind::kFreeCache,
                                            cluster::Encode(cluster::CacheCommand{id, 0, 0}));
      if (!s.ok()) (void)cluster_.Lost(s);
      return all;
    }
    return std::unique_ptr<KvCache>(
        std::make_unique<ClusterKvCache>(cluster_, id, *std::move(local)));
  }
  absl::Status Forward(const ForwardBatch& batch, KvCache& cache, std::span<const float> hidden_in,
                       std::vector<float>& out) override {
    auto* ours = dynamic_cast<ClusterKvCache*>(&cache);
    if (ours == nullptr)
      return absl::InvalidArgumentError("the KV cache was not made by this runner");
    // Checked here, so that no rank is sent a batch it would refuse.
    INFER_RETURN_IF_ERROR(CheckBatch(batch, config(), cache));
    std::lock_guard<std::mutex> lock(cluster_.command_mu_);
    INFER_RETURN_IF_ERROR(cluster_.Broken());
    absl::Status s =
        cluster_.SendCommand(CommandKind::kForward, cluster::Encode(ours->id(), batch));
    if (s.ok()) s = cluster_.RunStage(*local_, ours->local(), batch, out);
    if (!s.ok()) return cluster_.Lost(s);
    return absl::OkStatus();
  }
  absl::Status Prepare(const std::function<void(uint64_t, uint64_t)>& on_progress) override {
    return absl::OkStatus();  // the local runner was prepared before the workers reported
  }
  uint64_t weight_bytes_per_token() const override { return local_->weight_bytes_per_token(); }

 private:
  Cluster::Impl& cluster_;
  std::unique_ptr<ModelRunner> local_;
  RunnerLayout whole_;
};

absl::Status Cluster::Impl::Init() {
  const ClusterOptions& o = options_;
  if (o.tensor_parallel_size < 1 || o.pipeline_parallel_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("tensor_parallel_size (", o.tensor_parallel_size,
                                                   ") and pipeline_parallel_size (",
                                                   o.pipeline_parallel_size, ") must be >= 1"));
  }
  if (o.rank < 0 || o.rank >= world_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", o.rank, " is outside [0, ", world_size(), ")"));
  }
  if (o.num_threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_threads must be >= 0, got ", o.num_threads));
  }
  addresses_.assign(world_size(), "");
  if (world_size() == 1) return absl::OkStatus();
  comm::TcpOptions tcp;
  tcp.rank = o.rank;
  tcp.world_size = world_size();
  tcp.secret = o.secret;
  tcp.join_timeout = o.join_timeout;
  tcp.encrypt = o.encrypt;
  tcp.on_join = [this](int rank, std::string_view address) {
    INFER_LOG(kInfo, "cluster: rank %d of %d joined from %s", rank, world_size(),
              std::string(address));
    std::lock_guard<std::mutex> lock(state_mu_);
    if (rank >= 0 && rank < world_size()) addresses_[rank] = std::string(address);
  };
  INFER_ASSIGN_OR_RETURN(auto host_port, SplitAddress(o.address));
  if (o.rank == 0) {
    INFER_ASSIGN_OR_RETURN(rendezvous_,
                           comm::TcpRendezvous::Listen(host_port.first, host_port.second, tcp));
    INFER_LOG(kInfo, "cluster: leader of %d ranks (tensor %d x pipeline %d) listening on %s:%d",
              world_size(), o.tensor_parallel_size, o.pipeline_parallel_size, host_port.first,
              static_cast<int>(rendezvous_->port()));
    return absl::OkStatus();
  }
  INFER_ASSIGN_OR_RETURN(world_, comm::JoinTcp(o.address, tcp));
  INFER_LOG(kInfo, "cluster: rank %d of %d joined the leader at %s", o.rank, world_size(),
            o.address);
  if (o.tensor_parallel_size > 1) {
    INFER_ASSIGN_OR_RETURN(tp_comm_, world_->Subgroup(TensorParallelGroup(stage())));
  }
  return absl::OkStatus();
}

std::vector<int> Cluster::Impl::TensorParallelGroup(int stage) const {
  std::vector<int> group(static_cast<size_t>(options_.tensor_parallel_size));
  for (int t = 0; t < options_.tensor_parallel_size; ++t) {
    group[t] = stage * options_.tensor_parallel_size + t;
  }
  return group;
}

absl::Status Cluster::Impl::WaitForRanks() {
  if (world_ != nullptr || world_size() == 1) return absl::OkStatus();
  if (rendezvous_ == nullptr) return absl::FailedPreconditionError("WaitForRanks: not the leader");
  INFER_LOG(kInfo, "cluster: waiting up to %d s for %d ranks to join",
            static_cast<int>(options_.join_timeout.count() / 1000), world_size() - 1);
  INFER_ASSIGN_OR_RETURN(world_, rendezvous_->Accept(options_.join_timeout));
  rendezvous_.reset();
  if (options_.tensor_parallel_size > 1) {
    INFER_ASSIGN_OR_RETURN(tp_comm_, world_->Subgroup(TensorParallelGroup(0)));
  }
  INFER_LOG(kInfo, "cluster: all %d ranks joined", world_size());
  return absl::OkStatus();
}

Cluster::Impl::~Impl() {
  {
    std::lock_guard<std::mutex> lock(heartbeat_mu_);
    stopping_ = true;
    heartbeat_cv_.notify_all();
  }
  if (heartbeat_.joinable()) heartbeat_.join();
  if (options_.rank == 0 && world_ != nullptr) {
    std::lock_guard<std::mutex> lock(command_mu_);
    if (Broken().ok()) (void)SendCommand(CommandKind::kShutdown, {});
  }
}

absl::Status Cluster::Impl::Lost(absl::Status status) {
  std::lock_guard<std::mutex> lock(state_mu_);
  if (lost_.ok()) {
    lost_ = status;
    lost_rank_ = RankNamedIn(status);
    INFER_LOG(kError, "cluster: %s", std::string(status.message()));
  }
  return status;
}

absl::Status Cluster::Impl::Broken() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return lost_;
}

absl::Status Cluster::Impl::health() const {
  INFER_RETURN_IF_ERROR(Broken());
  if (world_size() > 1 && world_ == nullptr) {
    return absl::UnavailableError("cluster: waiting for the ranks to join");
  }
  return absl::OkStatus();
}

std::vector<RankState> Cluster::Impl::ranks() const {
  std::vector<RankState> out;
  std::lock_guard<std::mutex> lock(state_mu_);
  for (int r = 0; r < world_size(); ++r) {
    if (options_.rank != 0 && r != options_.rank) continue;
    RankState s;
    s.rank = r;
    s.tensor_parallel_rank = r % options_.tensor_parallel_size;
    s.pipeline_stage = r / options_.tensor_parallel_size;
    s.address = addresses_[r];
    s.joined = r == options_.rank || world_ != nullptr;
    const bool gone = !lost_.ok() && (lost_rank_ == r || (lost_rank_ < 0 && r != options_.rank));
    s.alive = s.joined && !gone;
    if (gone) s.error = std::string(lost_.message());
    out.push_back(std::move(s));
  }
  return out;
}

absl::Status Cluster::Impl::SendCommand(CommandKind kind, std::vector<uint8_t> payload) {
  last_command_ = Clock::now();
  auto header = cluster::EncodeHeader({kind, payload.size()});
  INFER_RETURN_IF_ERROR(world_->Broadcast(header.data(), header.size(), 0, options_.timeout));
  if (!payload.empty()) {
    INFER_RETURN_IF_ERROR(world_->Broadcast(payload.data(), payload.size(), 0, options_.timeout));
  }
  return absl::OkStatus();
}

absl::Status Cluster::Impl::GatherStatus(const absl::Status& mine, comm::Timeout timeout) {
  return comm::AgreeStatus(*world_, mine, timeout);
}

absl::Status Cluster::Impl::RunStage(ModelRunner& local, KvCache& cache, const ForwardBatch& batch,
                                     std::vector<float>& out) {
  const int tp = options_.tensor_parallel_size;
  const int pp = options_.pipeline_parallel_size;
  const int s = stage();
  const int64_t n = static_cast<int64_t>(batch.tokens.size());
  const int64_t width = local.config().hidden_size;
  std::span<const float> in;
  if (s > 0) {
    hidden_.resize(static_cast<size_t>(n * width));
    INFER_RETURN_IF_ERROR(world_->Recv(hidden_.data(), hidden_.size() * sizeof(float),
                                       (s - 1) * tp + tp_rank(), options_.timeout));
    in = hidden_;
  }
  INFER_RETURN_IF_ERROR(local.Forward(batch, cache, in, out));
  if (s + 1 < pp) {
    INFER_RETURN_IF_ERROR(world_->Send(out.data(), out.size() * sizeof(float),
                                       (s + 1) * tp + tp_rank(), options_.timeout));
  } else if (options_.rank != 0 && tp_rank() == 0) {
    INFER_RETURN_IF_ERROR(
        world_->Send(out.data(), out.size() * sizeof(float), 0, options_.timeout));
  }
  if (options_.rank == 0 && pp > 1) {
    out.resize(static_cast<size_t>(batch.num_logit_rows() * local.config().vocab_size));
    INFER_RETURN_IF_ERROR(
        world_->Recv(out.data(), out.size() * sizeof(float), (pp - 1) * tp, options_.timeout));
  }
  return absl::OkStatus();
}

absl::StatusOr<RunnerLayout> Cluster::Impl::LayoutFor(const ModelConfig& config) const {
  return LayoutOfRank(config, options_.tensor_parallel_size, options_.pipeline_parallel_size,
                      options_.rank);
}

absl::Status Cluster::Impl::StartLoad(const ModelOptions& options) {
  INFER_RETURN_IF_ERROR(WaitForRanks());
  if (world_size() == 1) return absl::OkStatus();
  std::lock_guard<std::mutex> lock(command_mu_);
  INFER_RETURN_IF_ERROR(Broken());
  absl::Status s =
      SendCommand(CommandKind::kLoad, cluster::Encode(cluster::LoadCommand{options.path}));
  if (!s.ok()) return Lost(s);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ModelRunner>> Cluster::Impl::FinishLoad(
    std::unique_ptr<ModelRunner> local) {
  if (world_size() == 1) return local;
  {
    std::lock_guard<std::mutex> lock(command_mu_);
    // Loading a large slice may take long: the join timeout bounds it, not the step timeout.
    absl::Status all = GatherStatus(absl::OkStatus(), options_.join_timeout);
    if (!all.ok()) return Lost(all);
  }
  INFER_LOG(kInfo, "cluster: every rank loaded its slice");
  if (options_.heartbeat_interval.count() > 0 && !heartbeat_.joinable()) {
    heartbeat_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(heartbeat_mu_);
      while (!stopping_) {
        heartbeat_cv_.wait_for(lock, options_.heartbeat_interval);
        if (stopping_) break;
        lock.unlock();
        {
          std::lock_guard<std::mutex> commands(command_mu_);
          if (Broken().ok() && Clock::now() - last_command_ >= options_.heartbeat_interval) {
            // A ping that throws breaks the cluster as a lost rank does: every request then
            // fails with that status, and the process stays up.
            absl::Status s;
            const absl::Status thrown = RunGuarded("cluster heartbeat", [&] {
              s = SendCommand(CommandKind::kPing, {});
              if (s.ok()) s = world_->Barrier(options_.timeout);
            });
            if (!thrown.ok()) s = thrown;
            if (!s.ok()) (void)Lost(s);
          }
        }
        lock.lock();
      }
    });
  }
  return std::unique_ptr<ModelRunner>(std::make_unique<LeaderRunner>(*this, std::move(local)));
}

// ---- The worker's loop ------------------------------------------------------------------------

absl::Status Cluster::Impl::RunWorker() {
  if (options_.rank == 0) return absl::FailedPreconditionError("RunWorker: rank 0 is the leader");
  // Between commands the leader may be idle for long; its heartbeats (or its connection closing)
  // say whether it is still there.
  const comm::Timeout idle = options_.heartbeat_interval.count() > 0
                                 ? options_.timeout + 4 * options_.heartbeat_interval
                                 : comm::Timeout(std::chrono::hours(24 * 365));
  WorkerState w;
  while (true) {
    CommandHeader header;
    if (absl::Status got = ReceiveCommand(idle, &header, &w.payload); !got.ok()) {
      return LeftOrLost(got);
    }
    absl::Status s;
    switch (header.kind) {
      case CommandKind::kLoad:
        s = WorkerLoad(w);
        break;
      case CommandKind::kCreateCache:
        s = WorkerCreateCache(w);
        break;
      case CommandKind::kFreeCache: {
        absl::StatusOr<cluster::CacheCommand> c = cluster::DecodeCache(w.payload);
        if (c.ok()) w.caches.erase(c->id);
        s = c.status();
        break;
      }
      case CommandKind::kForward:
        s = WorkerForward(w);
        break;
      case CommandKind::kPing:
        s = world_->Barrier(options_.timeout);
        break;
      case CommandKind::kShutdown:
        INFER_LOG(kInfo, "cluster: rank %d: the leader shut the group down", options_.rank);
        return absl::OkStatus();
    }
    if (!s.ok()) return LeftOrLost(s);
  }
}

absl::Status Cluster::Impl::LeftOrLost(absl::Status s) {
  if (leaving_.load() && absl::IsCancelled(s)) {
    // Between two operations: the leader learns that this rank left, not that it crashed.
    const absl::Status left = world_->Leave(std::chrono::milliseconds(1500));
    INFER_LOG(kInfo, "cluster: rank %d left the group%s", options_.rank,
              left.ok() ? "" : absl::StrCat(" (", left.message(), ")"));
    return absl::OkStatus();
  }
  INFER_LOG(kError, "cluster: rank %d: %s", options_.rank, std::string(s.message()));
  return Lost(std::move(s));
}

absl::Status Cluster::Impl::ReceiveCommand(comm::Timeout idle, CommandHeader* header,
                                           std::vector<uint8_t>* payload) {
  std::array<uint8_t, cluster::kCommandHeaderBytes> raw{};
  INFER_RETURN_IF_ERROR(world_->Broadcast(raw.data(), raw.size(), 0, idle));
  INFER_ASSIGN_OR_RETURN(*header, cluster::DecodeHeader(raw, kMaxCommandBytes));
  payload->resize(header->payload_bytes);
  if (payload->empty()) return absl::OkStatus();
  return world_->Broadcast(payload->data(), payload->size(), 0, options_.timeout);
}

absl::Status Cluster::Impl::WorkerLoad(WorkerState& w) {
  INFER_ASSIGN_OR_RETURN(cluster::LoadCommand load, cluster::DecodeLoad(w.payload));
  INFER_LOG(kInfo, "cluster: rank %d loading its slice of %s", options_.rank, load.path);
  absl::Status status = [&]() -> absl::Status {
    INFER_ASSIGN_OR_RETURN(LoadedModelFiles files, OpenModelFiles(load.path));
    INFER_ASSIGN_OR_RETURN(RunnerLayout layout, LayoutFor(files.config));
    const int threads = options_.num_threads > 0
                            ? options_.num_threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    INFER_ASSIGN_OR_RETURN(w.runner, CreateModelRunner(files.config, *files.weights, layout,
                                                       tp_comm_.get(), options_.timeout, threads));
    w.weights = std::move(files.weights);
    return w.runner->Prepare({});
  }();
  if (!status.ok()) {
    status = absl::Status(status.code(), absl::StrCat(load.path, ": ", status.message()));
  }
  // This rank's environment, not the file, when it names no kernel level the library knows.
  if (absl::Status level = CpuLevelSettingStatus(); !level.ok()) {
    status =
        absl::Status(level.code(), absl::StrCat("rank ", options_.rank, ": ", level.message()));
  }
  // Every rank's outcome, so that all of them fail alike when one cannot load.
  INFER_RETURN_IF_ERROR(GatherStatus(status, options_.join_timeout));
  INFER_LOG(kInfo, "cluster: rank %d loaded layers [%d, %d) as tensor-parallel rank %d",
            options_.rank, w.runner->layout().first_layer, w.runner->layout().end_layer, tp_rank());
  return absl::OkStatus();
}

absl::Status Cluster::Impl::WorkerCreateCache(WorkerState& w) {
  INFER_ASSIGN_OR_RETURN(cluster::CacheCommand c, cluster::DecodeCache(w.payload));
  absl::Status status =
      w.runner == nullptr ? absl::FailedPreconditionError("no model loaded") : absl::OkStatus();
  if (status.ok()) {
    absl::StatusOr<std::unique_ptr<KvCache>> cache =
        w.runner->CreateKvCache(c.block_size, c.num_blocks, kHostKvDType);
    status = cache.status();
    if (cache.ok()) w.caches[c.id] = *std::move(cache);
  }
  // A cache that does not fit fails that request on the leader; only a lost rank ends the loop.
  absl::Status all = GatherStatus(status, options_.timeout);
  if (!all.ok() && (absl::IsUnavailable(all) || absl::IsDeadlineExceeded(all))) return all;
  return absl::OkStatus();
}

absl::Status Cluster::Impl::WorkerForward(WorkerState& w) {
  INFER_RETURN_IF_ERROR(cluster::DecodeForward(w.payload, &w.step));
  auto cache = w.caches.find(w.step.cache_id);
  if (w.runner == nullptr || cache == w.caches.end()) {
    return absl::InternalError(absl::StrCat("a step on unknown KV cache ", w.step.cache_id));
  }
  // A rank that cannot run its part leaves: the others see it gone, never a wrong answer.
  return RunStage(*w.runner, *cache->second, w.step.batch, w.out);
}

void Cluster::Impl::Leave() {
  if (options_.rank == 0 || world_ == nullptr) return;
  leaving_.store(true);
  world_->Interrupt();
}

// ---- Public API -------------------------------------------------------------------------------

Cluster::Cluster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  if (impl_->options_.rank == 0) RegisterModelParallelism(this, impl_.get());
}
Cluster::~Cluster() { RegisterModelParallelism(this, nullptr); }

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::Create(const ClusterOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  INFER_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Cluster>(new Cluster(std::move(impl)));
}

const ClusterOptions& Cluster::options() const { return impl_->options_; }
int Cluster::world_size() const { return impl_->world_size(); }
int Cluster::port() const { return impl_->rendezvous_ != nullptr ? impl_->rendezvous_->port() : 0; }
absl::Status Cluster::WaitForRanks() { return impl_->WaitForRanks(); }
absl::Status Cluster::RunWorker() { return impl_->RunWorker(); }
void Cluster::Leave() { impl_->Leave(); }
absl::Status Cluster::health() const { return impl_->health(); }
std::vector<RankState> Cluster::ranks() const { return impl_->ranks(); }

absl::StatusOr<ClusterOptions> ClusterOptionsFromEnvironment(ClusterOptions o) {
  auto int_var = [](const char* name, int* out) -> absl::Status {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return absl::OkStatus();
    if (!absl::SimpleAtoi(v, out) || *out < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": '", v, "' is not a non-negative integer"));
    }
    return absl::OkStatus();
  };
  INFER_RETURN_IF_ERROR(int_var("TENSOR_PARALLELISM", &o.tensor_parallel_size));
  INFER_RETURN_IF_ERROR(int_var("PIPELINE_PARALLELISM", &o.pipeline_parallel_size));
  INFER_RETURN_IF_ERROR(int_var("LWS_WORKER_INDEX", &o.rank));
  int group = 0;
  INFER_RETURN_IF_ERROR(int_var("LWS_GROUP_SIZE", &group));
  const char* tp = std::getenv("TENSOR_PARALLELISM");
  if (group > 0 && (tp == nullptr || *tp == '\0')) {
    // The group's size is stated once (the LeaderWorkerSet's `size`): tensor parallelism is
    // what the pipeline stages leave of it.
    if (o.pipeline_parallel_size < 1 || group % o.pipeline_parallel_size != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("LWS_GROUP_SIZE: ", group, " ranks do not split into ",
                       o.pipeline_parallel_size, " pipeline stages (PIPELINE_PARALLELISM)"));
    }
    o.tensor_parallel_size = group / o.pipeline_parallel_size;
  }
  if (group > 0 && group != o.tensor_parallel_size * o.pipeline_parallel_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("LWS_GROUP_SIZE: ", group, " ranks, but tensor x pipeline parallelism is ",
                     o.tensor_parallel_size, " x ", o.pipeline_parallel_size));
  }
  int port = 29500;
  INFER_RETURN_IF_ERROR(int_var("INFER_CLUSTER_PORT", &port));
  if (const char* leader = std::getenv("LWS_LEADER_ADDRESS"); leader != nullptr && *leader) {
    o.address = o.rank == 0 ? absl::StrCat("0.0.0.0:", port) : absl::StrCat(leader, ":", port);
  }
  if (const char* secret = std::getenv("INFER_CLUSTER_SECRET"); secret != nullptr && *secret) {
    o.secret = secret;
  } else if (const char* file = std::getenv("INFER_CLUSTER_SECRET_FILE"); file && *file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat("INFER_CLUSTER_SECRET_FILE: cannot read '", file, "'"));
    }
    std::stringstream text;
    text << in.rdbuf();
    o.secret = std::string(absl::StripTrailingAsciiWhitespace(text.str()));
  }
  return o;
}

}  // namespace infer
