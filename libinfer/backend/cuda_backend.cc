// The CUDA backend: device memory, one stream per backend, the kernels of libinfer/kernels/cuda.
// Every CUDA call's error becomes a Status naming the call and its values; nothing aborts.
#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <algorithm>
#include <map>
#include <tuple>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libinfer/backend/backend.h"
#include "libinfer/backend/split_weight.h"
#include "libinfer/kernels/cuda/launch.h"
#include "libinfer/kernels/cuda/ops.cuh"
#include "libinfer/kernels/cuda/rmsnorm.cuh"
#include "libinfer/util/status_macros.h"

namespace infer {
namespace {

absl::Status CudaError(cudaError_t err, const std::string& call) {
  const std::string message =
      absl::StrCat(call, " failed: ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ")");
  if (err == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(message);
  if (err == cudaErrorInsufficientDriver || err == cudaErrorNoDevice ||
      err == cudaErrorInvalidDevice) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

class CudaBuffer : public DeviceBuffer {
 public:
  CudaBuffer(void* ptr, size_t bytes) : ptr_(ptr), bytes_(bytes) {}
  ~CudaBuffer() override { cudaFree(ptr_); }
  void* data() override { return ptr_; }
  const void* data() const override { return ptr_; }
  size_t size() const override { return bytes_; }

 private:
  void* ptr_;
  size_t bytes_;
};

// A weight matrix in the split layout (split_weight.h), in device memory.
class CudaWeight : public DeviceWeight {
 public:
  CudaWeight(DType dtype, int64_t rows, int64_t cols) : DeviceWeight(dtype, rows, cols) {}
  kernels::cuda::SplitMatrix matrix;
  std::unique_ptr<DeviceBuffer> codes, scales, mins;
};

kernels::cuda::WeightType WeightTypeOf(DType dtype) {
  switch (dtype) {
    case DType::kF16:
      return kernels::cuda::WeightType::kF16;
    case DType::kBF16:
      return kernels::cuda::WeightType::kBF16;
    case DType::kQ8_0:
      return kernels::cuda::WeightType::kQ8_0;
    case DType::kQ4_0:
      return kernels::cuda::WeightType::kQ4_0;
    case DType::kQ4_1:
      return kernels::cuda::WeightType::kQ4_1;
    default:
      return kernels::cuda::WeightType::kF32;
  }
}

kernels::cuda::AttentionDims DimsOf(const AttentionShape& s) {
  kernels::cuda::AttentionDims d;
  d.num_heads = s.num_heads;
  d.num_kv_heads = s.num_kv_heads;
  d.head_dim = s.head_dim;
  d.block_size = s.block_size;
  d.sliding_window = s.sliding_window;
  d.scale = s.scale;
  d.softcap = s.softcap;
  d.kv_f16 = s.kv_f16;
  return d;
}

// cuBLASLt, opened on first use: linking it would map its hundreds of megabytes into every
// process of a CUDA build, GPU or not (about 200 MB of resident memory at start).
struct CublasLtApi {
  decltype(&cublasLtCreate) Create = nullptr;
  decltype(&cublasLtDestroy) Destroy = nullptr;
  decltype(&cublasLtGetStatusString) GetStatusString = nullptr;
  decltype(&cublasLtMatmul) Matmul = nullptr;
  decltype(&cublasLtMatmulAlgoGetHeuristic) MatmulAlgoGetHeuristic = nullptr;
  decltype(&cublasLtMatmulDescCreate) MatmulDescCreate = nullptr;
  decltype(&cublasLtMatmulDescDestroy) MatmulDescDestroy = nullptr;
  decltype(&cublasLtMatmulDescSetAttribute) MatmulDescSetAttribute = nullptr;
  decltype(&cublasLtMatmulPreferenceCreate) MatmulPreferenceCreate = nullptr;
  decltype(&cublasLtMatmulPreferenceDestroy) MatmulPreferenceDestroy = nullptr;
  decltype(&cublasLtMatmulPreferenceSetAttribute) MatmulPreferenceSetAttribute = nullptr;
  decltype(&cublasLtMatrixLayoutCreate) MatrixLayoutCreate = nullptr;
  decltype(&cublasLtMatrixLayoutDestroy) MatrixLayoutDestroy = nullptr;
  std::string error;  // why it could not be opened; empty when it was
};

const CublasLtApi& Lt() {
  static const CublasLtApi* api = [] {
    auto* a = new CublasLtApi;
    void* lib = dlopen(INFER_CUBLASLT_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) lib = dlopen(INFER_CUBLASLT_FALLBACK, RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* why = dlerror();
      a->error = absl::StrCat("cannot open ", INFER_CUBLASLT_SONAME, ": ",
                              why != nullptr ? why : "unknown error");
      return a;
    }
    bool complete = true;
    const auto bind = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (fn == nullptr && complete) {
        complete = false;
        a->error = absl::StrCat(INFER_CUBLASLT_SONAME, " has no ", name);
      }
    };
    bind(a->Create, "cublasLtCreate");
    bind(a->Destroy, "cublasLtDestroy");
    bind(a->GetStatusString, "cublasLtGetStatusString");
    bind(a->Matmul, "cublasLtMatmul");
    bind(a->MatmulAlgoGetHeuristic, "cublasLtMatmulAlgoGetHeuristic");
    bind(a->MatmulDescCreate, "cublasLtMatmulDescCreate");
    bind(a->MatmulDescDestroy, "cublasLtMatmulDescDestroy");
    bind(a->MatmulDescSetAttribute, "cublasLtMatmulDescSetAttribute");
    bind(a->MatmulPreferenceCreate, "cublasLtMatmulPreferenceCreate");
    bind(a->MatmulPreferenceDestroy, "cublasLtMatmulPreferenceDestroy");
    bind(a->MatmulPreferenceSetAttribute, "cublasLtMatmulPreferenceSetAttribute");
    bind(a->MatrixLayoutCreate, "cublasLtMatrixLayoutCreate");
    bind(a->MatrixLayoutDestroy, "cublasLtMatrixLayoutDestroy");
    return a;
  }();
  return *api;
}

absl::Status BlasError(cublasStatus_t status, const std::string& call) {
  const std::string message =
      absl::StrCat(call, " failed: ", Lt().GetStatusString(status), " (", int{status}, ")");
  if (status == CUBLAS_STATUS_ALLOC_FAILED) return absl::ResourceExhaustedError(message);
  if (status == CUBLAS_STATUS_NOT_SUPPORTED) return absl::UnimplementedError(message);
  return absl::InternalError(message);
}

// A cuBLASLt product of one shape: D (rows x m, column-major, ld ldy) = op(A)^T B with A the
// weights (cols x rows column-major = rows x cols row-major, ld lda) and B the activations
// (cols x m), D in F32. Made once per shape, with the heuristic's first algorithm.
struct GemmPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

class CudaBackend : public Backend {
 public:
  CudaBackend(int device, std::string name, int sm_count, cudaStream_t stream)
      : device_(device), name_(std::move(name)), sm_count_(sm_count), stream_(stream) {}
  ~CudaBackend() override {
    cudaSetDevice(device_);
    cudaStreamSynchronize(stream_);
    for (auto& [key, plan] : gemm_plans_) {
      Lt().MatrixLayoutDestroy(plan.a);
      Lt().MatrixLayoutDestroy(plan.b);
      Lt().MatrixLayoutDestroy(plan.d);
      Lt().MatmulDescDestroy(plan.desc);
    }
    if (lt_ != nullptr) Lt().Destroy(lt_);
    if (staging_ != nullptr) cudaFreeHost(staging_);
    cudaStreamDestroy(stream_);
  }

  std::string name() const override { return name_; }
  bool host_memory() const override { return false; }

  absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes) override {
    if (cudaError_t e = cudaSetDevice(device_); e != cudaSuccess) {
      return CudaError(e, absl::StrCat("cudaSetDevice(", device_, ")"));
    }
    void* ptr = nullptr;
    if (cudaError_t e = cudaMalloc(&ptr, bytes == 0 ? 1 : bytes); e != cudaSuccess) {
      cudaGetLastError();
      size_t free = 0, total = 0;
      cudaMemGetInfo(&free, &total);
      return CudaError(e, absl::StrCat("cudaMalloc(", bytes, " bytes) on ", name_, " with ", free,
                                       " of ", total, " bytes free"));
    }
    return std::make_unique<CudaBuffer>(ptr, bytes);
  }

  absl::Status CopyToDevice(const void* host, size_t bytes, void* dst) override {
    if (bytes == 0) return absl::OkStatus();
    INFER_RETURN_IF_ERROR(
        Launched(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, stream_),
                 absl::StrCat("cudaMemcpyAsync(host->device, ", bytes, ")")));
    // The host memory may be reused as soon as this returns.
    return Synchronize();
  }

  absl::Status CopyToHost(const void* src, size_t bytes, void* host) override {
    if (bytes == 0) return Synchronize();
    INFER_RETURN_IF_ERROR(
        Launched(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, stream_),
                 absl::StrCat("cudaMemcpyAsync(device->host, ", bytes, ")")));
    return Synchronize();
  }

  absl::Status Synchronize() override {
    return Launched(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }

  std::optional<DeviceMemory> Memory() const override {
    size_t free = 0, total = 0;
    if (cudaSetDevice(device_) != cudaSuccess || cudaMemGetInfo(&free, &total) != cudaSuccess) {
      cudaGetLastError();
      return std::nullopt;
    }
    return DeviceMemory{free, total};
  }

  absl::StatusOr<std::unique_ptr<DeviceWeight>> UploadWeight(
      const kernels::cpu::WeightMatrix& host) override {
    INFER_ASSIGN_OR_RETURN(SplitWeight split, SplitForDevice(host));
    auto w = std::make_unique<CudaWeight>(host.dtype, host.rows, host.cols);
    // Float types have no scales, only Q4_1 has minimums (and an empty slice no codes): those
    // buffers stay null.
    INFER_ASSIGN_OR_RETURN(w->codes, UploadBytes(split.codes.data(), split.codes.size()));
    INFER_ASSIGN_OR_RETURN(w->scales, UploadBytes(split.scales.data(), split.scales.size() * 2));
    INFER_ASSIGN_OR_RETURN(w->mins, UploadBytes(split.mins.data(), split.mins.size() * 2));
    kernels::cuda::SplitMatrix& m = w->matrix;
    m.type = WeightTypeOf(host.dtype);
    m.rows = split.rows;
    m.cols = split.cols;
    m.row_bytes = split.row_bytes;
    m.codes = w->codes ? static_cast<const uint8_t*>(w->codes->data()) : nullptr;
    m.scales = w->scales ? static_cast<const uint16_t*>(w->scales->data()) : nullptr;
    m.mins = w->mins ? static_cast<const uint16_t*>(w->mins->data()) : nullptr;
    return std::unique_ptr<DeviceWeight>(std::move(w));
  }

  absl::Status BeginStep(const FlatBatch& plan) override {
    INFER_RETURN_IF_ERROR(CheckFlatBatch(plan));
    // Every vector of the plan in one pinned staging area, then one copy to the device.
    const size_t n = plan.tokens.size();
    const size_t ints = 3 * n + plan.block_tables.size() + plan.logit_tokens.size();
    INFER_RETURN_IF_ERROR(Synchronize());  // the previous step's copy has read the staging area
    if (ints > staging_ints_) {
      if (staging_ != nullptr) cudaFreeHost(staging_);
      staging_ = nullptr;
      staging_ints_ = 0;
      void* p = nullptr;
      INFER_RETURN_IF_ERROR(Launched(cudaMallocHost(&p, ints * sizeof(int32_t)),
                                     absl::StrCat("cudaMallocHost(", ints * 4, ")")));
      staging_ = static_cast<int32_t*>(p);
      staging_ints_ = ints;
    }
    INFER_RETURN_IF_ERROR(Reserve(batch_buffer_, ints * sizeof(int32_t)));
    int32_t* at = staging_;
    const auto* base = static_cast<const int32_t*>(batch_buffer_->data());
    const auto put = [&](const std::vector<int32_t>& v) {
      const int32_t* device = base + (at - staging_);
      std::copy(v.begin(), v.end(), at);
      at += v.size();
      return device;
    };
    batch_.num_tokens = static_cast<int64_t>(n);
    batch_.tokens = put(plan.tokens);
    batch_.positions = put(plan.positions);
    batch_.table_begin = put(plan.table_begin);
    batch_.block_tables = put(plan.block_tables);
    batch_.num_logit_rows = static_cast<int64_t>(plan.logit_tokens.size());
    batch_.logit_tokens = put(plan.logit_tokens);
    batch_.max_position = plan.max_position;
    return Launched(cudaMemcpyAsync(batch_buffer_->data(), staging_, ints * sizeof(int32_t),
                                    cudaMemcpyHostToDevice, stream_),
                    "cudaMemcpyAsync(step batch)");
  }

  absl::Status Embed(const DeviceWeight& table, float* out) override {
    return Launched(kernels::cuda::Embed(Matrix(table), batch_, out, stream_), "Embed");
  }
  absl::Status RmsNorm(const float* x, const float* weight, float* out, int64_t rows, int64_t cols,
                       float eps) override {
    return Launched(kernels::cuda::RmsNorm(x, weight, out, rows, cols, eps, stream_),
                    absl::StrCat("RmsNorm(rows=", rows, ", cols=", cols, ")"));
  }
  absl::Status MatMul(const DeviceWeight& w, const float* x, int64_t m, float* y,
                      int64_t ldy) override {
    const kernels::cuda::SplitMatrix& s = Matrix(w);
    const bool quantized = s.scales != nullptr;
    if (kernels::cuda::UseGemm(quantized, m)) return Gemm(s, x, m, y, ldy);
    return Launched(kernels::cuda::MatMul(s, x, m, y, ldy, stream_),
                    absl::StrCat("MatMul(", w.rows(), " x ", w.cols(), " ", DTypeName(w.dtype()),
                                 ", m=", m, ")"));
  }
  absl::Status Add(float* x, const float* y, int64_t n) override {
    return Launched(kernels::cuda::Add(x, y, n, stream_), "Add");
  }
  absl::Status AddBias(float* x, const float* bias, int64_t rows, int64_t cols) override {
    return Launched(kernels::cuda::AddBias(x, bias, rows, cols, stream_), "AddBias");
  }
  absl::Status Scale(float* x, int64_t n, float s) override {
    return Launched(kernels::cuda::Scale(x, n, s, stream_), "Scale");
  }
  absl::Status SoftCap(float* x, int64_t n, float cap) override {
    return Launched(kernels::cuda::SoftCap(x, n, cap, stream_), "SoftCap");
  }
  absl::Status GatedActivation(FfnActivation act, float* gate, const float* up,
                               int64_t n) override {
    return Launched(
        kernels::cuda::GatedActivation(act == FfnActivation::kGeluTanh, gate, up, n, stream_),
        "GatedActivation");
  }
  absl::Status Rope(float* x, int64_t num_heads, const RopeSpec& r) override {
    return Launched(kernels::cuda::Rope(x, num_heads, r.head_dim, r.rope_dim, r.inv_freq,
                                        r.interleaved, r.attn_factor, batch_, stream_),
                    "Rope");
  }
  absl::Status WriteKv(const AttentionShape& shape, const float* k, const float* v, void* k_pool,
                       void* v_pool) override {
    return Launched(kernels::cuda::WriteKv(DimsOf(shape), k, v, k_pool, v_pool, batch_, stream_),
                    "WriteKv");
  }
  absl::Status PagedAttention(const AttentionShape& shape, const float* q, const void* k_pool,
                              const void* v_pool, float* out) override {
    int64_t span = int64_t{batch_.max_position} + 1;
    if (shape.sliding_window > 0) span = std::min(span, shape.sliding_window);
    const kernels::cuda::AttentionLaunch plan =
        kernels::cuda::PlanAttention(batch_.num_tokens, shape.num_heads, span, sm_count_);
    const int64_t floats = kernels::cuda::AttentionWorkspaceFloats(
        batch_.num_tokens, shape.num_heads, shape.head_dim, plan.splits);
    if (floats > 0) INFER_RETURN_IF_ERROR(Reserve(workspace_, floats * sizeof(float)));
    return Launched(
        kernels::cuda::PagedAttention(DimsOf(shape), q, k_pool, v_pool, out, batch_, plan.splits,
                                      plan.positions_per_split,
                                      floats > 0 ? workspace_->floats() : nullptr, stream_),
        absl::StrCat("PagedAttention(tokens=", batch_.num_tokens, ", splits=", plan.splits, ")"));
  }
  absl::Status GatherLogitRows(const float* x, int64_t cols, float* out) override {
    return Launched(kernels::cuda::GatherRows(x, cols, batch_, out, stream_), "GatherLogitRows");
  }
  absl::Status Copy2D(float* dst, int64_t dst_stride, const float* src, int64_t src_stride,
                      int64_t rows, int64_t cols) override {
    if (rows <= 0 || cols <= 0) return absl::OkStatus();
    return Launched(
        cudaMemcpy2DAsync(dst, dst_stride * sizeof(float), src, src_stride * sizeof(float),
                          cols * sizeof(float), rows, cudaMemcpyDeviceToDevice, stream_),
        "cudaMemcpy2DAsync");
  }

 private:
  static const kernels::cuda::SplitMatrix& Matrix(const DeviceWeight& w) {
    return static_cast<const CudaWeight&>(w).matrix;
  }
  static absl::Status Launched(cudaError_t e, const std::string& what) {
    if (e != cudaSuccess) return CudaError(e, what);
    return absl::OkStatus();
  }
  // y = x W^T through cuBLASLt: F32 weights as they are (F32 compute, no TF32); F16/BF16 weights
  // with the activations rounded to the same type; quantized weights expanded to F16 first.
  // Accumulation in F32 always.
  absl::Status Gemm(const kernels::cuda::SplitMatrix& s, const float* x, int64_t m, float* y,
                    int64_t ldy) {
    using kernels::cuda::WeightType;
    if (lt_ == nullptr) {
      if (!Lt().error.empty()) {
        return absl::UnavailableError(absl::StrCat("cuBLASLt (prefill products): ", Lt().error));
      }
      if (cublasStatus_t st = Lt().Create(&lt_); st != CUBLAS_STATUS_SUCCESS) {
        lt_ = nullptr;
        return BlasError(st, "cublasLtCreate");
      }
    }
    cudaDataType_t type = CUDA_R_32F;
    const void* a = s.codes;
    int64_t lda = s.row_bytes / 4;
    const void* b = x;
    if (s.type != WeightType::kF32) {
      const bool bf16 = s.type == WeightType::kBF16;
      type = bf16 ? CUDA_R_16BF : CUDA_R_16F;
      lda = s.row_bytes / 2;
      if (s.scales != nullptr) {  // quantized: F16 copy of the whole matrix
        INFER_RETURN_IF_ERROR(Reserve(gemm_weights_, static_cast<size_t>(s.rows * s.cols) * 2));
        INFER_RETURN_IF_ERROR(Launched(
            kernels::cuda::DequantizeToF16(s, gemm_weights_->data(), stream_), "DequantizeToF16"));
        a = gemm_weights_->data();
        lda = s.cols;
      }
      INFER_RETURN_IF_ERROR(Reserve(gemm_inputs_, static_cast<size_t>(m * s.cols) * 2));
      INFER_RETURN_IF_ERROR(
          Launched(kernels::cuda::ConvertFloats(x, m * s.cols, bf16, gemm_inputs_->data(), stream_),
                   "ConvertFloats"));
      b = gemm_inputs_->data();
    }
    INFER_RETURN_IF_ERROR(Reserve(gemm_workspace_, kGemmWorkspaceBytes));
    // A tensor-parallel share of the logits starts inside a row: its alignment picks the plan.
    const int y_align = reinterpret_cast<uintptr_t>(y) % 16 == 0 ? 16 : 4;
    INFER_ASSIGN_OR_RETURN(const GemmPlan* plan,
                           PlanGemm(type, s.rows, s.cols, m, lda, ldy, y_align));
    const float alpha = 1.0f, beta = 0.0f;
    if (cublasStatus_t st = Lt().Matmul(lt_, plan->desc, &alpha, a, plan->a, b, plan->b, &beta, y,
                                        plan->d, y, plan->d, &plan->algo, gemm_workspace_->data(),
                                        kGemmWorkspaceBytes, stream_);
        st != CUBLAS_STATUS_SUCCESS) {
      return BlasError(st, absl::StrCat("cublasLtMatmul(", s.rows, " x ", s.cols, ", m=", m, ")"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<const GemmPlan*> PlanGemm(cudaDataType_t type, int64_t rows, int64_t cols,
                                           int64_t m, int64_t lda, int64_t ldy, int y_align) {
    const auto key = std::make_tuple(static_cast<int>(type), rows, cols, m, lda, ldy, y_align);
    if (auto it = gemm_plans_.find(key); it != gemm_plans_.end()) return &it->second;
    GemmPlan p;
    const auto check = [&](cublasStatus_t st, const char* call) {
      return st == CUBLAS_STATUS_SUCCESS ? absl::OkStatus() : BlasError(st, call);
    };
    absl::Status status = check(Lt().MatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F),
                                "cublasLtMatmulDescCreate");
    const cublasOperation_t transpose = CUBLAS_OP_T;
    if (status.ok()) {
      status = check(Lt().MatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &transpose,
                                                 sizeof(transpose)),
                     "cublasLtMatmulDescSetAttribute(TRANSA)");
    }
    if (status.ok()) {
      status = check(Lt().MatrixLayoutCreate(&p.a, type, cols, rows, lda),
                     "cublasLtMatrixLayoutCreate(A)");
    }
    if (status.ok()) {
      status = check(Lt().MatrixLayoutCreate(&p.b, type, cols, m, cols),
                     "cublasLtMatrixLayoutCreate(B)");
    }
    if (status.ok()) {
      status = check(Lt().MatrixLayoutCreate(&p.d, CUDA_R_32F, rows, m, ldy),
                     "cublasLtMatrixLayoutCreate(D)");
    }
    cublasLtMatmulPreference_t pref = nullptr;
    if (status.ok()) {
      status = check(Lt().MatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
    }
    const uint64_t workspace = kGemmWorkspaceBytes;
    if (status.ok()) {
      status =
          check(Lt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                  &workspace, sizeof(workspace)),
                "cublasLtMatmulPreferenceSetAttribute");
    }
    const uint32_t d_align = static_cast<uint32_t>(y_align);
    if (status.ok()) {
      status =
          check(Lt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                  &d_align, sizeof(d_align)),
                "cublasLtMatmulPreferenceSetAttribute(D alignment)");
    }
    if (status.ok()) {
      status =
          check(Lt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                  &d_align, sizeof(d_align)),
                "cublasLtMatmulPreferenceSetAttribute(C alignment)");
    }
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    if (status.ok()) {
      status = check(
          Lt().MatmulAlgoGetHeuristic(lt_, p.desc, p.a, p.b, p.d, p.d, pref, 1, &result, &found),
          "cublasLtMatmulAlgoGetHeuristic");
    }
    if (pref != nullptr) Lt().MatmulPreferenceDestroy(pref);
    if (status.ok() && found == 0) {
      status = absl::UnimplementedError(
          absl::StrCat("cuBLASLt has no algorithm for ", rows, " x ", cols, " with ", m, " rows"));
    }
    if (!status.ok()) {
      if (p.a != nullptr) Lt().MatrixLayoutDestroy(p.a);
      if (p.b != nullptr) Lt().MatrixLayoutDestroy(p.b);
      if (p.d != nullptr) Lt().MatrixLayoutDestroy(p.d);
      if (p.desc != nullptr) Lt().MatmulDescDestroy(p.desc);
      return status;
    }
    p.algo = result.algo;
    return &gemm_plans_.emplace(key, p).first->second;
  }

  int device_;
  std::string name_;
  int sm_count_;
  cudaStream_t stream_;
  // The step's flat batch: staged in pinned memory, held on the device.
  kernels::cuda::DeviceBatch batch_;
  int32_t* staging_ = nullptr;
  size_t staging_ints_ = 0;
  std::unique_ptr<DeviceBuffer> batch_buffer_;
  std::unique_ptr<DeviceBuffer> workspace_;  // split attention's partial results
  // cuBLASLt: the handle, a plan per shape, its workspace, and the F16/BF16 copies of the
  // operands it multiplies.
  static constexpr size_t kGemmWorkspaceBytes = size_t{32} << 20;
  cublasLtHandle_t lt_ = nullptr;
  std::map<std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t, int>, GemmPlan> gemm_plans_;
  std::unique_ptr<DeviceBuffer> gemm_workspace_, gemm_weights_, gemm_inputs_;
};

}  // namespace

int CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return count;
}

absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int device) {
  int count = 0;
  if (cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    cudaGetLastError();
    return CudaError(e, "cudaGetDeviceCount");
  }
  if (device < 0 || device >= count) {
    return absl::UnavailableError(
        absl::StrCat("CUDA device ", device, " requested; ", count, " present"));
  }
  if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess) {
    return CudaError(e, absl::StrCat("cudaSetDevice(", device, ")"));
  }
  cudaDeviceProp prop{};
  if (cudaError_t e = cudaGetDeviceProperties(&prop, device); e != cudaSuccess) {
    return CudaError(e, absl::StrCat("cudaGetDeviceProperties(", device, ")"));
  }
  cudaStream_t stream = nullptr;
  if (cudaError_t e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking); e != cudaSuccess) {
    return CudaError(e, "cudaStreamCreateWithFlags");
  }
  return std::make_unique<CudaBackend>(device, absl::StrCat("cuda:", device, " (", prop.name, ")"),
                                       prop.multiProcessorCount, stream);
}

}  // namespace infer
