// The CPU backend: host memory, the kernels of libinfer/kernels/cpu, and the worker threads
// that its matrix products and attention share.
#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libinfer/backend/backend.h"
#include "libinfer/kernels/cpu/attention.h"
#include "libinfer/kernels/cpu/matmul.h"
#include "libinfer/kernels/cpu/ops.h"
#include "libinfer/util/status_macros.h"
#include "libinfer/util/thread_pool.h"

namespace infer {
namespace {

namespace k = kernels::cpu;

// Uninitialised host memory: pages become resident as they are written (a large KV cache costs
// nothing until used).
class HostBuffer : public DeviceBuffer {
 public:
  HostBuffer(std::unique_ptr<unsigned char[]> bytes, size_t size)
      : bytes_(std::move(bytes)), size_(size) {}
  void* data() override { return bytes_.get(); }
  const void* data() const override { return bytes_.get(); }
  size_t size() const override { return size_; }

 private:
  std::unique_ptr<unsigned char[]> bytes_;
  size_t size_;
};

// A view of a host matrix (the mapped file): the CPU kernels read weights in place.
class HostWeight : public DeviceWeight {
 public:
  explicit HostWeight(const k::WeightMatrix& m) : DeviceWeight(m.dtype, m.rows, m.cols), m_(m) {}
  const k::WeightMatrix& matrix() const { return m_; }

 private:
  k::WeightMatrix m_;
};

const k::WeightMatrix& HostMatrix(const DeviceWeight& w) {
  return static_cast<const HostWeight&>(w).matrix();
}

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(int num_threads) : pool_(std::max(num_threads, 1)) {}

  std::string name() const override {
    return absl::StrCat("cpu (", pool_.num_threads(),
                        pool_.num_threads() == 1 ? " thread)" : " threads)");
  }

  bool host_memory() const override { return true; }

  absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes) override {
    std::unique_ptr<unsigned char[]> p(new (std::nothrow) unsigned char[bytes == 0 ? 1 : bytes]);
    if (p == nullptr) {
      return absl::ResourceExhaustedError(absl::StrCat("cannot allocate ", bytes, " bytes"));
    }
    return std::make_unique<HostBuffer>(std::move(p), bytes);
  }
  absl::Status CopyToDevice(const void* host, size_t bytes, void* dst) override {
    if (bytes > 0) std::memcpy(dst, host, bytes);
    return absl::OkStatus();
  }
  absl::Status CopyToHost(const void* src, size_t bytes, void* host) override {
    if (bytes > 0) std::memcpy(host, src, bytes);
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<DeviceWeight>> UploadWeight(const k::WeightMatrix& m) override {
    return std::make_unique<HostWeight>(m);
  }
  absl::Status Synchronize() override { return absl::OkStatus(); }
  std::optional<DeviceMemory> Memory() const override { return std::nullopt; }

  absl::Status BeginStep(const FlatBatch& plan) override {
    INFER_RETURN_IF_ERROR(CheckFlatBatch(plan));
    plan_ = plan;
    queries_.clear();
    for (int64_t t = 0; t < plan_.num_tokens(); ++t) {
      queries_.push_back({plan_.positions[t], &plan_.block_tables[plan_.table_begin[t]]});
    }
    return absl::OkStatus();
  }

  absl::Status Embed(const DeviceWeight& table, float* out) override {
    const k::WeightMatrix& m = HostMatrix(table);
    for (int64_t t = 0; t < plan_.num_tokens(); ++t) {
      const int32_t id = plan_.tokens[t];
      if (id < 0 || id >= m.rows) {
        return absl::InvalidArgumentError(
            absl::StrCat("token ", t, ": id ", id, " is outside the vocabulary of ", m.rows));
      }
      k::DequantizeRow(m, id, out + t * m.cols);
    }
    return absl::OkStatus();
  }
  absl::Status RmsNorm(const float* x, const float* weight, float* out, int64_t rows, int64_t cols,
                       float eps) override {
    for (int64_t r = 0; r < rows; ++r) k::RmsNorm(x + r * cols, weight, out + r * cols, cols, eps);
    return absl::OkStatus();
  }
  absl::Status MatMul(const DeviceWeight& w, const float* x, int64_t m, float* y,
                      int64_t ldy) override {
    k::MatMul(HostMatrix(w), x, m, y, ldy, &pool_, &matmul_scratch_);
    return absl::OkStatus();
  }
  absl::Status MatMulShared(const float* x, int64_t m,
                            std::span<const WeightProduct> products) override {
    shared_.clear();
    for (const WeightProduct& p : products) shared_.push_back({&HostMatrix(*p.w), p.y, p.ldy});
    k::MatMulShared(shared_, x, m, &pool_, &matmul_scratch_);
    return absl::OkStatus();
  }
  absl::Status Add(float* x, const float* y, int64_t n) override {
    k::Add(x, y, n);
    return absl::OkStatus();
  }
  absl::Status AddBias(float* x, const float* bias, int64_t rows, int64_t cols) override {
    for (int64_t r = 0; r < rows; ++r) k::Add(x + r * cols, bias, cols);
    return absl::OkStatus();
  }
  absl::Status Scale(float* x, int64_t n, float s) override {
    k::Scale(x, n, s);
    return absl::OkStatus();
  }
  absl::Status SoftCap(float* x, int64_t n, float cap) override {
    k::SoftCap(x, n, cap);
    return absl::OkStatus();
  }
  absl::Status GatedActivation(FfnActivation act, float* gate, const float* up,
                               int64_t n) override {
    if (act == FfnActivation::kGeluTanh) {
      k::GeluTanhMul(gate, up, gate, n);
    } else {
      k::SiluMul(gate, up, gate, n);
    }
    return absl::OkStatus();
  }
  absl::Status Rope(float* x, int64_t num_heads, const RopeSpec& r) override {
    const std::span<const float> inv_freq(r.inv_freq, static_cast<size_t>(r.rope_dim / 2));
    for (int64_t t = 0; t < plan_.num_tokens(); ++t) {
      float* row = x + t * num_heads * r.head_dim;
      k::Rope(row, num_heads, r.head_dim, r.rope_dim, plan_.positions[t], inv_freq, r.interleaved);
      if (r.attn_factor != 1.0f) {
        for (int64_t h = 0; h < num_heads; ++h) {
          k::Scale(row + h * r.head_dim, r.rope_dim, r.attn_factor);
        }
      }
    }
    return absl::OkStatus();
  }
  absl::Status WriteKv(const AttentionShape& s, const float* k, const float* v, void* k_pool,
                       void* v_pool) override {
    if (s.kv_f16) {
      WriteKvAs(s, k, v, static_cast<uint16_t*>(k_pool), static_cast<uint16_t*>(v_pool));
    } else {
      WriteKvAs(s, k, v, static_cast<float*>(k_pool), static_cast<float*>(v_pool));
    }
    return absl::OkStatus();
  }
  absl::Status PagedAttention(const AttentionShape& shape, const float* q, const void* k_pool,
                              const void* v_pool, float* out) override {
    k::PagedAttention(shape, q, k_pool, v_pool, queries_, out, &pool_);
    return absl::OkStatus();
  }
  absl::Status GatherLogitRows(const float* x, int64_t cols, float* out) override {
    for (size_t r = 0; r < plan_.logit_tokens.size(); ++r) {
      std::copy_n(x + plan_.logit_tokens[r] * cols, cols, out + static_cast<int64_t>(r) * cols);
    }
    return absl::OkStatus();
  }
  absl::Status Copy2D(float* dst, int64_t dst_stride, const float* src, int64_t src_stride,
                      int64_t rows, int64_t cols) override {
    for (int64_t r = 0; r < rows; ++r)
      std::copy_n(src + r * src_stride, cols, dst + r * dst_stride);
    return absl::OkStatus();
  }

 private:
  static void Store(const float* src, int64_t n, float* dst) { std::copy_n(src, n, dst); }
  static void Store(const float* src, int64_t n, uint16_t* dst) { k::ToF16(src, n, dst); }
  template <class T>
  void WriteKvAs(const AttentionShape& s, const float* k, const float* v, T* k_pool, T* v_pool) {
    const int64_t width = s.num_kv_heads * s.head_dim;
    for (int64_t t = 0; t < plan_.num_tokens(); ++t) {
      const int64_t pos = plan_.positions[t];
      const int64_t block = plan_.block_tables[plan_.table_begin[t] + pos / s.block_size];
      for (int64_t h = 0; h < s.num_kv_heads; ++h) {
        const int64_t dst = block * s.block_floats() + s.row_offset(h, pos);
        Store(k + t * width + h * s.head_dim, s.head_dim, k_pool + dst);
        Store(v + t * width + h * s.head_dim, s.head_dim, v_pool + dst);
      }
    }
  }

  ThreadPool pool_;
  k::MatMulScratch matmul_scratch_;
  std::vector<k::MatMulProduct> shared_;  // MatMulShared's products, kept for their capacity
  FlatBatch plan_;
  std::vector<k::AttentionQuery> queries_;
};

}  // namespace

std::unique_ptr<Backend> CreateCpuBackend(int num_threads) {
  return std::make_unique<CpuBackend>(num_threads);
}

}  // namespace infer
