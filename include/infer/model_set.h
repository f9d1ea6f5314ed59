// libinfer — ModelSet: several models served from one process, each with one or more replicas
// on the devices the process may use, memory reserved before anything loads.
//
//   auto set = infer::ModelSet::Create({});                 // probes the devices
//   auto spec = infer::LoadModelSetFile("models.yaml");     // or build a ModelSetSpec in code
//   auto plan = (*set)->Plan(*spec);                        // what would change, or why not
//   auto done = (*set)->Apply(*spec);                       // unloads, then loads, as planned
//   auto lease = (*set)->Acquire("chat");                   // the least busy replica of "chat"
//   auto handle = lease->scheduler().Submit(request);       // the lease keeps it loaded
//   infer::ModelSetState state = (*set)->State();           // devices, replicas, reservations
//
// A replica is one Model with its own Scheduler (and so its own KV cache). What it costs is
// computed from its files and settings (weights + KV cache + activations + runtime, see
// ReplicaCost in libinfer/cluster/replica_cost.h), raised to a declared `memory` when that is
// larger, and reserved on its device before it loads; a plan never reserves more than a device
// has free for us. Every change (Apply, Deploy, Scale, Remove) is planned whole first: when it
// does not fit, nothing changes and the error names the model, the replica and each device's
// room. Then replicas to remove drain (no new requests; those in flight finish, up to the
// drain timeout, then are cancelled), are unloaded and give their reservations back, and only
// then do new replicas load.
//
// Requests go to the replica of the named model with the fewest leases outstanding (ties in
// turn). A lease is held for the whole request: a replica never unloads under one.
//
// Thread-safety: every method may be called from any thread. Changes run one at a time (a
// second Apply waits for the first); Acquire and State never wait for a change.
#ifndef INFER_MODEL_SET_H_
#define INFER_MODEL_SET_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "infer/model.h"
#include "infer/sampling.h"
#include "infer/scheduler.h"

namespace infer {

// Sampling defaults of one model: what a request that leaves a field out gets instead of the
// API's default. Unset fields keep the API's.
struct SamplingDefaults {
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int32_t> top_k;
  std::optional<float> min_p;
  std::optional<float> repetition_penalty;
  std::optional<float> presence_penalty;
  std::optional<float> frequency_penalty;
  std::optional<int32_t> max_tokens;

  bool operator==(const SamplingDefaults&) const = default;
};

// Sets every field of `params` that `defaults` holds.
void ApplySamplingDefaults(const SamplingDefaults& defaults, SamplingParams* params);

// One model of a set.
struct ModelSpec {
  std::string name;  // the `model` of requests; unique in a set
  std::string path;  // GGUF file or Hugging Face folder
  int replicas = 1;
  bool max_replicas = false;   // as many replicas as fit (at least one)
  uint64_t memory_bytes = 0;   // declared per replica rank; the larger of it and the computed
                               // cost is reserved; 0: the computed cost
  int64_t context_length = 0;  // 0: the model's own
  int tensor_parallel = 1;     // ranks of one replica (a set places single-rank replicas only)
  int pipeline_parallel = 1;
  std::string device = "host";  // "host" or "cuda"
  int threads = 0;              // forward-pass threads per replica; 0: ModelSetOptions's
  SamplingDefaults sampling;
  // kv_cache_bytes 0: ModelSetOptions' default sizing (see there).
  SchedulerOptions scheduler;
  // Where the entry came from, for messages: "models[1] ('coder')"; may be empty.
  std::string origin;

  bool operator==(const ModelSpec&) const = default;
};

struct ModelSetSpec {
  std::vector<ModelSpec> models;
};

// Reads a model set document (YAML, or JSON when `path` ends in .json; the format is in
// libinfer/model_set/model_set_config.h). `path` names it in messages and is the folder that
// relative model paths are resolved against (none when empty). With `check_files`, every
// model's path must exist. All or nothing: InvalidArgument naming every bad entry.
absl::StatusOr<ModelSetSpec> ParseModelSet(std::string_view path, std::string_view contents,
                                           bool check_files = true);

// Reads and parses a model set file (at most 1 MiB).
absl::StatusOr<ModelSetSpec> LoadModelSetFile(const std::string& path);

// "512MiB", "3.89GiB", "2G", "1048576" -> bytes (K, M, G, T and KiB.. are powers of 1024; KB,
// MB, GB, TB powers of 1000). nullopt for anything else, zero, or a negative size.
std::optional<uint64_t> ParseByteSize(std::string_view text);

struct ModelSetOptions {
  // Forward-pass threads of a replica whose spec says 0; 0: one per core the process may use.
  int default_threads = 0;
  // A replica whose spec leaves kv_cache_bytes at 0 gets room for max_num_seqs sequences of
  // the full context, at most `default_kv_cache_bytes` and at most its scheduler's
  // kv_cache_memory_fraction of the host memory free when it is planned (the rule of a single
  // model's Scheduler, engine/kv_budget.h), but never less than one full-context
  // sequence (so that any request the context admits can run).
  uint64_t default_kv_cache_bytes = uint64_t{512} << 20;
  // Per rank: threads' stacks, the allocator's slack (part of the cost, with the tokenizer's
  // tables, which are computed).
  uint64_t runtime_bytes = uint64_t{1280} << 10;
  // How long a replica being removed may finish its requests before they are cancelled.
  std::chrono::milliseconds drain_timeout = std::chrono::seconds(30);
  // Bytes of host memory the set may reserve in all; 0: what the host (its cgroup limit
  // included) has, less what others use, measured every `refresh_interval`.
  uint64_t host_memory_limit_bytes = 0;
  std::chrono::milliseconds refresh_interval = std::chrono::milliseconds(500);
  // The NVML library to probe CUDA devices with; empty: no CUDA devices.
  std::string nvml_library = "libnvidia-ml.so.1";
  // Prefix of /proc and /sys (tests give a fake one).
  std::string system_root = "/";
};

// One replica as State() reports it.
struct ReplicaState {
  int index = 0;
  std::vector<std::string> devices;  // one per rank: "host", "cuda:0", ...
  uint64_t reserved_bytes_per_rank = 0;
  std::string cost;      // "weights 69.6 MiB + KV cache ... = ... per rank (computed)"
  bool adopted = false;  // added with Adopt: not owned, no reservation
  bool draining = false;
  int64_t outstanding = 0;  // leases held
  SchedulerStats stats;
};

struct ModelState {
  std::string name;
  std::string path;
  std::string file_type;  // ModelInfo::file_type of its replicas ("Q4_K_M"); empty until loaded
  int64_t context_length = 0;
  bool max_replicas = false;
  std::vector<ReplicaState> replicas;
};

struct DeviceState {
  std::string id;
  std::string name;
  std::string kind;  // "host", "cuda"
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t reserved_bytes = 0;        // by this set's replicas
  std::vector<std::string> replicas;  // "chat/0", ...
};

struct ModelSetState {
  std::vector<ModelState> models;  // by name
  std::vector<DeviceState> devices;
  // "2026-12-03T08:41:07Z: <why>" for the last change refused or failed (a plan that did not
  // fit, a replica that failed to load, one a host reported); "" when none was.
  std::string last_refused_change;
};

// What a change does: replicas to unload (first), then replicas to load.
struct ModelSetPlan {
  struct Step {
    std::string model;
    int replica = 0;
    std::vector<std::string> devices;
    uint64_t bytes_per_rank = 0;
    std::string cost;  // loads: the cost's parts
  };
  std::vector<Step> unloads;
  std::vector<Step> loads;
  // "unload chat/1 (host, 612.0 MiB); load coder/0 on host: weights ... = 1.2 GiB"; "no change".
  std::string Describe() const;
};

// A replica held for one request. Movable; while it is held the replica stays loaded.
class ReplicaLease {
 public:
  ReplicaLease() = default;
  ReplicaLease(ReplicaLease&& other) noexcept;
  ReplicaLease& operator=(ReplicaLease&& other) noexcept;
  ReplicaLease(const ReplicaLease&) = delete;
  ReplicaLease& operator=(const ReplicaLease&) = delete;
  ~ReplicaLease();

  // Gives the replica back now (the destructor does it otherwise). Idempotent.
  void Release();
  explicit operator bool() const { return replica_ != nullptr; }

  Model& model() const;
  Scheduler& scheduler() const;
  const std::string& model_name() const;
  int replica_index() const;
  const SamplingDefaults& sampling_defaults() const;

 private:
  friend class ModelSet;  // the set hands leases out (ModelSet::Acquire)
  struct Replica;
  explicit ReplicaLease(std::shared_ptr<Replica> replica);
  std::shared_ptr<Replica> replica_;
};

class ModelSet {
 public:
  // Probes the devices and starts refreshing them. Holds no model yet.
  static absl::StatusOr<std::unique_ptr<ModelSet>> Create(const ModelSetOptions& options = {});
  // Unloads everything at once (in-flight requests are cancelled). Leases must be given back
  // before: a host shuts its server down first.
  ~ModelSet();
  ModelSet(const ModelSet&) = delete;
  ModelSet& operator=(const ModelSet&) = delete;

  // What Apply(spec) would do, without doing it. InvalidArgument for a bad spec (a file that
  // does not open, a layout the model refuses, a name an adopted model holds), naming the entry;
  // ResourceExhausted when it does not fit, with each device's room.
  absl::StatusOr<ModelSetPlan> Plan(const ModelSetSpec& spec) const;
  // Makes the set's own models those of `spec`: models not in it are removed, new ones loaded,
  // changed ones reloaded (any field but the replica count), others scaled. Adopted models stay.
  // Planned first (nothing changes on a refusal); a replica that then fails to load gives its
  // reservation back and the error names it (the replicas done before it stay).
  absl::StatusOr<ModelSetPlan> Apply(const ModelSetSpec& spec);
  // Adds a model, or replaces the model of that name: Apply of the current set with `model`.
  absl::StatusOr<ModelSetPlan> Deploy(const ModelSpec& model);
  // Sets the replica count of a model (max_replicas off). NotFound for an unknown name.
  absl::StatusOr<ModelSetPlan> Scale(std::string_view name, int replicas);
  // Removes one model (draining it), or every model of the set's own.
  absl::StatusOr<ModelSetPlan> Remove(std::string_view name);
  absl::StatusOr<ModelSetPlan> RemoveAll();

  // Serves a Model and Scheduler the host owns (one model on the command line) as `name`.
  // They must outlive the set; no memory is reserved for them. InvalidArgument for a name in
  // use or a chat template that cannot render a conversation.
  absl::Status Adopt(const std::string& name, Model& model, Scheduler& scheduler,
                     const SamplingDefaults& sampling = {});

  // The least busy replica of `name`. NotFound naming the served models for an unknown name;
  // Unavailable while the model has no replica that takes requests (loading, draining).
  absl::StatusOr<ReplicaLease> Acquire(std::string_view name);

  // Records a change the host refused before it reached the set (a models file that does not
  // parse), for State().last_refused_change. The set records its own refusals.
  void ReportRefusedChange(const std::string& why);

  // Served model names, sorted.
  std::vector<std::string> names() const;
  // The spec of the set's own models as last applied.
  ModelSetSpec spec() const;
  ModelSetState State() const;

 private:
  class Impl;  // the implementation's (not part of the API)
  explicit ModelSet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace infer

#endif  // INFER_MODEL_SET_H_
