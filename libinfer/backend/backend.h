// The device interface: memory and the ops of a forward pass, with one implementation per
// device kind (CPU, CUDA). A model runner (libinfer/model/llama.h) holds its weights, its
// activations and its KV cache in one backend's memory and runs every op of a step through it,
// so a GPU is one more backend, not a second model.
//
// Pointers that ops take are in the backend's memory: host memory for the CPU backend, device
// memory for CUDA (from Allocate, a DeviceBuffer's data(), or offsets into one). Ops are ordered
// as issued; a device backend may run them asynchronously on its stream, so an op's error can
// surface at a later op, at Synchronize or at a copy to the host. The CPU backend runs each op
// before returning and uses its own worker threads.
//
// Thread-safety: one caller at a time per backend.
#ifndef INFER_BACKEND_BACKEND_H_
#define INFER_BACKEND_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libinfer/kernels/attention_shape.h"
#include "libinfer/kernels/cpu/matmul.h"
#include "libinfer/tensor/dtype.h"

namespace infer {

using kernels::AttentionShape;

// Memory owned by one backend (host memory for the CPU, device memory for CUDA). Freed when
// destroyed. Not copyable.
class DeviceBuffer {
 public:
  virtual ~DeviceBuffer() = default;
  virtual void* data() = 0;
  virtual const void* data() const = 0;
  virtual size_t size() const = 0;
  float* floats() { return static_cast<float*>(data()); }
  const float* floats() const { return static_cast<const float*>(data()); }
};

// A weight matrix of `rows` x `cols` elements of `dtype` as one backend holds it (made by that
// backend's UploadWeight; only that backend's ops accept it). The CPU backend keeps a view of
// the host matrix (the mapped file); a device backend holds a copy in device memory, possibly
// in a layout of its own.
class DeviceWeight {
 public:
  DeviceWeight(DType dtype, int64_t rows, int64_t cols) : dtype_(dtype), rows_(rows), cols_(cols) {}
  virtual ~DeviceWeight() = default;
  DType dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }

 private:
  DType dtype_;
  int64_t rows_;
  int64_t cols_;
};

// One product of Backend::MatMulShared: y = x w^T, rows of stride ldy >= w->rows().
struct WeightProduct {
  const DeviceWeight* w = nullptr;
  float* y = nullptr;
  int64_t ldy = 0;
};

// The gated feed-forward's activation: out = act(gate) * up.
enum class FfnActivation {
  kSilu,      // Llama, Qwen
  kGeluTanh,  // Gemma: GELU in its tanh form
};

// The flat batch of one step as the ops read it (see libinfer/model/batch.h): per token its id,
// its position and where its sequence's block table starts; the tables, one sequence after
// another; and which tokens' logits are wanted. Built on the host each step (FlattenBatch in
// libinfer/model/model_runner.h) and handed to Backend::BeginStep.
struct FlatBatch {
  std::vector<int32_t> tokens;
  std::vector<int32_t> positions;
  std::vector<int32_t> table_begin;   // per token: its sequence's table, at block_tables[this]
  std::vector<int32_t> block_tables;  // every sequence's block table, concatenated
  std::vector<int32_t> logit_tokens;  // the tokens whose logits are wanted, in order
  int32_t max_position = 0;           // the largest of positions (0 for an empty step)

  int64_t num_tokens() const { return static_cast<int64_t>(tokens.size()); }
};

// Rotary position embedding of the step's tokens (Backend::Rope). The first `rope_dim` dims of
// each head are rotated by pos * inv_freq[i] for pair i < rope_dim / 2; pairs are (2i, 2i + 1)
// when `interleaved`, else (i, i + rope_dim / 2). The rotated dims are then multiplied by
// `attn_factor` unless it is 1 (YaRN's attention factor).
struct RopeSpec {
  int64_t head_dim = 0;
  int64_t rope_dim = 0;
  const float* inv_freq = nullptr;  // rope_dim / 2 values in the backend's memory
  bool interleaved = false;
  float attn_factor = 1.0f;
};

// A device's memory as its driver reports it now.
struct DeviceMemory {
  uint64_t free_bytes = 0;
  uint64_t total_bytes = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu (N threads)", or "cuda:N (device name)".
  virtual std::string name() const = 0;
  // True when the backend's memory is the host's (the CPU backend): a runner may then hand host
  // memory to the ops and read their results without a copy.
  virtual bool host_memory() const = 0;

  // ---- Memory ----
  // `bytes` of uninitialised memory (a host backend does not touch its pages).
  // ResourceExhausted, naming the bytes, when the device has too little.
  virtual absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes) = 0;
  // Host -> backend and backend -> host copies of `bytes`; the copy to the host waits for every
  // op issued before it and reports their errors.
  virtual absl::Status CopyToDevice(const void* host, size_t bytes, void* dst) = 0;
  virtual absl::Status CopyToHost(const void* src, size_t bytes, void* host) = 0;
  // The same into or out of a buffer's start: OutOfRange when `bytes` exceed the buffer.
  absl::Status CopyToBuffer(const void* host, size_t bytes, DeviceBuffer& dst);
  absl::Status CopyFromBuffer(const DeviceBuffer& src, size_t bytes, void* host);
  // A buffer holding `bytes` bytes copied from `host`, or `values` (norm weights, biases, RoPE
  // frequencies); null for nothing to hold (no bytes, an empty vector).
  absl::StatusOr<std::unique_ptr<DeviceBuffer>> UploadBytes(const void* host, size_t bytes);
  absl::StatusOr<std::unique_ptr<DeviceBuffer>> Upload(const std::vector<float>& values);
  // Makes `buffer` (null or a buffer of this backend) hold at least `bytes`; its contents are not
  // kept. A replaced buffer is freed after the ops issued so far, which may still read it.
  absl::Status Reserve(std::unique_ptr<DeviceBuffer>& buffer, size_t bytes);
  // The backend's copy (or view) of a host weight matrix, which must outlive a view. Errors:
  // Unimplemented for a type the backend's matrix products do not take; ResourceExhausted.
  virtual absl::StatusOr<std::unique_ptr<DeviceWeight>> UploadWeight(
      const kernels::cpu::WeightMatrix& host) = 0;
  // Waits until every op issued so far has run; their first error, if any.
  virtual absl::Status Synchronize() = 0;
  // The device's free and total memory; nullopt for host memory (whose budget the engine
  // probes itself, cgroup-aware).
  virtual std::optional<DeviceMemory> Memory() const = 0;

  // ---- One step ----
  // Makes `plan` the step that the ops below read (token ids, positions, block tables). The
  // plan is copied; InvalidArgument for a plan whose vectors disagree in length.
  virtual absl::Status BeginStep(const FlatBatch& plan) = 0;

  // out[t] = row plan.tokens[t] of `table`, expanded to F32: [num_tokens][table.cols()].
  virtual absl::Status Embed(const DeviceWeight& table, float* out) = 0;
  // out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight for r < rows rows of `cols` values
  // (weight: cols). out may alias x.
  virtual absl::Status RmsNorm(const float* x, const float* weight, float* out, int64_t rows,
                               int64_t cols, float eps) = 0;
  // y[i][j] = sum_k x[i][k] * w[j][k] for i < m, j < w.rows(); x: m rows of w.cols(); y: m rows
  // of stride ldy >= w.rows(), of which [0, w.rows()) are written. Rounding follows the
  // backend's kernels (the CPU's: libinfer/kernels/cpu/matmul.h).
  virtual absl::Status MatMul(const DeviceWeight& w, const float* x, int64_t m, float* y,
                              int64_t ldy) = 0;
  // The products of one input x (m rows of cols) with several weights of `cols` columns (a
  // layer's Q, K and V; gate and up), each y exactly as MatMul writes it. A backend may share
  // the work of the input between them (the CPU quantizes x once and runs every product in one
  // parallel region); the default runs MatMul for each.
  virtual absl::Status MatMulShared(const float* x, int64_t m,
                                    std::span<const WeightProduct> products);
  // x[i] += y[i], i < n.
  virtual absl::Status Add(float* x, const float* y, int64_t n) = 0;
  // x[r][i] += bias[i] for r < rows rows of `cols` values.
  virtual absl::Status AddBias(float* x, const float* bias, int64_t rows, int64_t cols) = 0;
  // x[i] *= s, i < n.
  virtual absl::Status Scale(float* x, int64_t n, float s) = 0;
  // x[i] = cap * tanh(x[i] / cap), i < n; cap > 0.
  virtual absl::Status SoftCap(float* x, int64_t n, float cap) = 0;
  // gate[i] = act(gate[i]) * up[i], i < n.
  virtual absl::Status GatedActivation(FfnActivation act, float* gate, const float* up,
                                       int64_t n) = 0;
  // Rotates x: [num_tokens][num_heads][rope.head_dim], token t at plan.positions[t].
  virtual absl::Status Rope(float* x, int64_t num_heads, const RopeSpec& rope) = 0;
  // Writes token t's K and V rows (k, v: [num_tokens][num_kv_heads][head_dim]) at its position
  // in the block its table names, in one layer's pools ([num_blocks][num_kv_heads][block_size]
  // [head_dim] of F32, or F16 rounded to nearest when shape.kv_f16). The tables were checked
  // against the cache by the caller.
  virtual absl::Status WriteKv(const AttentionShape& shape, const float* k, const float* v,
                               void* k_pool, void* v_pool) = 0;
  // Causal attention of each token over its sequence's positions [max(0, pos - window + 1),
  // pos] in the pools (written by WriteKv first). q, out: [num_tokens][num_heads][head_dim].
  // The CPU's result for a row does not depend on the rest of the batch (batch invariance).
  virtual absl::Status PagedAttention(const AttentionShape& shape, const float* q,
                                      const void* k_pool, const void* v_pool, float* out) = 0;
  // out[r] = x[plan.logit_tokens[r]]: the rows whose logits are wanted, `cols` values each.
  virtual absl::Status GatherLogitRows(const float* x, int64_t cols, float* out) = 0;
  // dst[r][0, cols) = src[r][0, cols) for r < rows, with row strides in floats (backend memory).
  virtual absl::Status Copy2D(float* dst, int64_t dst_stride, const float* src, int64_t src_stride,
                              int64_t rows, int64_t cols) = 0;
};

// OutOfRange when `bytes` exceed `buffer`, naming `what`.
absl::Status CheckBufferSize(const DeviceBuffer& buffer, size_t bytes, const char* what);

// InvalidArgument unless the plan's vectors agree (positions and table_begin one per token,
// table_begin and logit_tokens inside their arrays, max_position the largest position).
absl::Status CheckFlatBatch(const FlatBatch& plan);

// The backend that `device` names: "cpu", "cuda" (device 0) or "cuda:N". InvalidArgument for
// another name; CreateCudaBackend's errors, prefixed with the name, for CUDA. `num_threads` is
// the CPU backend's.
absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(std::string_view device, int num_threads);

// The CPU backend with `num_threads` threads (the calling thread counts; >= 1). Always
// available.
std::unique_ptr<Backend> CreateCpuBackend(int num_threads = 1);

// The CUDA backend on device `device`. Unimplemented when libinfer was built without CUDA;
// Unavailable (with the CUDA error, e.g. "no CUDA driver" or "no GPU") when the machine cannot
// run it. Never aborts: callers fall back to the CPU.
absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int device);

// Number of CUDA devices usable now; 0 without CUDA, driver or GPU.
int CudaDeviceCount();

}  // namespace infer

#endif  // INFER_BACKEND_BACKEND_H_
