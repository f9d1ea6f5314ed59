// Every op of the Backend interface against a reference computed here in double from its
// definition, on each backend: the CPU always, CUDA where a GPU is present (skipped with the
// reason otherwise). The same tests hold both, so a device backend is checked op by op against
// what the CPU computes.
#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libinfer/backend/backend.h"
#include "libinfer/backend/split_weight.h"
#include "libinfer/util/fp16.h"
#include "tests/backend/random_weights.h"

namespace infer {
namespace {

class BackendOpsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "cpu") {
      backend_ = CreateCpuBackend(2);
      return;
    }
    auto cuda = CreateCudaBackend(0);
    if (!cuda.ok()) GTEST_SKIP() << "no CUDA backend here: " << cuda.status().message();
    backend_ = *std::move(cuda);
  }

  // A buffer in the backend's memory holding `v`.
  std::unique_ptr<DeviceBuffer> Put(const std::vector<float>& v) {
    auto b = backend_->Upload(v);
    EXPECT_TRUE(b.ok()) << b.status();
    return *std::move(b);
  }
  std::vector<float> Get(const DeviceBuffer& b, size_t n) {
    std::vector<float> out(n);
    EXPECT_TRUE(backend_->CopyToHost(b.data(), n * sizeof(float), out.data()).ok());
    return out;
  }
  std::vector<float> Random(size_t n, float stddev = 1.0f) {
    std::normal_distribution<float> dist(0.f, stddev);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng_);
    return v;
  }

  std::unique_ptr<Backend> backend_;
  std::mt19937 rng_{11};
};

void ExpectNear(const std::vector<float>& got, const std::vector<double>& want, double rel,
                double abs, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], abs + rel * std::fabs(want[i])) << what << " at " << i;
  }
}

// A flat batch of `lengths.size()` sequences, sequence s running tokens at positions
// [starts[s], starts[s] + lengths[s]) over block tables of shuffled blocks.
FlatBatch MakeBatch(const std::vector<int32_t>& starts, const std::vector<int32_t>& lengths,
                    int64_t block_size, int64_t num_blocks, std::mt19937& rng) {
  FlatBatch plan;
  std::vector<int32_t> free_blocks(static_cast<size_t>(num_blocks));
  std::iota(free_blocks.begin(), free_blocks.end(), 0);
  std::shuffle(free_blocks.begin(), free_blocks.end(), rng);
  size_t next_block = 0;
  for (size_t s = 0; s < starts.size(); ++s) {
    const int32_t end = starts[s] + lengths[s];
    const auto table = static_cast<int32_t>(plan.block_tables.size());
    for (int64_t b = 0; b < (end + block_size - 1) / block_size; ++b) {
      plan.block_tables.push_back(free_blocks.at(next_block++));
    }
    for (int32_t p = starts[s]; p < end; ++p) {
      plan.tokens.push_back(p % 7);
      plan.positions.push_back(p);
      plan.table_begin.push_back(table);
      plan.max_position = std::max(plan.max_position, p);
    }
    plan.logit_tokens.push_back(static_cast<int32_t>(plan.tokens.size()) - 1);
  }
  return plan;
}

TEST_P(BackendOpsTest, ElementWiseOpsMatchTheirDefinitions) {
  const int64_t rows = 3, cols = 70, n = rows * cols;
  const std::vector<float> x = Random(n), y = Random(n), bias = Random(cols);
  auto bx = Put(x);
  auto by = Put(y);
  auto bb = Put(bias);
  std::vector<double> want(x.begin(), x.end());

  ASSERT_TRUE(backend_->Add(bx->floats(), by->floats(), n).ok());
  for (int64_t i = 0; i < n; ++i) want[i] += y[i];
  ASSERT_TRUE(backend_->AddBias(bx->floats(), bb->floats(), rows, cols).ok());
  for (int64_t i = 0; i < n; ++i) want[i] += bias[i % cols];
  ASSERT_TRUE(backend_->Scale(bx->floats(), n, 0.37f).ok());
  for (double& v : want) v *= 0.37f;
  ExpectNear(Get(*bx, n), want, 1e-6, 1e-7, "add, bias, scale");

  ASSERT_TRUE(backend_->SoftCap(bx->floats(), n, 0.5f).ok());
  for (double& v : want) v = 0.5 * std::tanh(v / 0.5);
  ExpectNear(Get(*bx, n), want, 1e-5, 1e-6, "soft cap");

  for (FfnActivation act : {FfnActivation::kSilu, FfnActivation::kGeluTanh}) {
    const std::vector<float> gate = Random(n, 3.0f), up = Random(n);
    auto bg = Put(gate);
    auto bu = Put(up);
    ASSERT_TRUE(backend_->GatedActivation(act, bg->floats(), bu->floats(), n).ok());
    std::vector<double> w(n);
    for (int64_t i = 0; i < n; ++i) {
      const double g = gate[i];
      const double a =
          act == FfnActivation::kSilu
              ? g / (1 + std::exp(-g))
              : 0.5 * g * (1 + std::tanh(std::sqrt(2 / M_PI) * (g + 0.044715 * g * g * g)));
      w[i] = a * up[i];
    }
    ExpectNear(Get(*bg, n), w, 1e-5, 1e-6, act == FfnActivation::kSilu ? "silu" : "gelu");
  }
}

TEST_P(BackendOpsTest, RmsNormInPlaceAndOverHeads) {
  const int64_t rows = 12, cols = 64;  // e.g. 4 tokens x 3 heads of 64
  const std::vector<float> x = Random(rows * cols), w = Random(cols);
  auto bx = Put(x);
  auto bw = Put(w);
  ASSERT_TRUE(backend_->RmsNorm(bx->floats(), bw->floats(), bx->floats(), rows, cols, 1e-6f).ok());
  std::vector<double> want(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < cols; ++i) ss += double(x[r * cols + i]) * x[r * cols + i];
    const double scale = 1 / std::sqrt(ss / cols + 1e-6);
    for (int64_t i = 0; i < cols; ++i) want[r * cols + i] = x[r * cols + i] * scale * w[i];
  }
  ExpectNear(Get(*bx, x.size()), want, 1e-5, 1e-6, "rmsnorm");
}

// y = x W^T for every weight type the device kernels read, with a row stride above the width
// (a tensor-parallel share of the logits) whose other columns stay untouched, for a few rows
// (decode) and many (prefill: a GPU hands those to cuBLASLt). Reference: the weights as
// SplitWeightValue decodes them (equal to the CPU's DequantizeRow), x in double. Tolerances, of
// sum |w x|: 1e-4 where activations stay in float or become int16 codes (the CPU's quantized
// path); on a GPU's cuBLASLt path the activations are rounded to the weights' 16-bit type
// (quantized weights are expanded to F16): 2e-3 for F16, 8e-3 for BF16.
TEST_P(BackendOpsTest, MatMulEveryDeviceTypeWithARowStride) {
  for (DType dtype :
       {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_1}) {
    for (int64_t m : {int64_t{5}, int64_t{130}}) {
      SCOPED_TRACE(::testing::Message() << DTypeName(dtype) << ", m = " << m);
      const DTypeInfo& info = GetDTypeInfo(dtype);
      const int64_t rows = 37, cols = 192, ldy = 45;
      std::vector<uint8_t> bytes = testing::RandomMatrix(dtype, rows, cols, rng_);
      kernels::cpu::WeightMatrix host{
          dtype, bytes.data(), rows, cols,
          static_cast<size_t>(cols / info.block_elems * info.block_bytes)};
      auto split = SplitForDevice(host);
      ASSERT_TRUE(split.ok()) << split.status();
      auto w = backend_->UploadWeight(host);
      ASSERT_TRUE(w.ok()) << w.status();
      const std::vector<float> x = Random(m * cols);
      std::vector<float> y0(m * ldy, 12345.f);
      auto bx = Put(x);
      auto by = Put(y0);
      ASSERT_TRUE(backend_->MatMul(**w, bx->floats(), m, by->floats(), ldy).ok());
      const std::vector<float> y = Get(*by, y0.size());
      double rel = 1e-4;
      if (GetParam() != "cpu" && m >= 16 && dtype != DType::kF32) {
        rel = dtype == DType::kBF16 ? 8e-3 : 2e-3;
      }
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < ldy; ++j) {
          if (j >= rows) {
            ASSERT_EQ(y[i * ldy + j], 12345.f) << "row " << i << " col " << j << " was written";
            continue;
          }
          double want = 0, mag = 0;
          for (int64_t k = 0; k < cols; ++k) {
            const double p = double(SplitWeightValue(*split, j, k)) * x[i * cols + k];
            want += p;
            mag += std::fabs(p);
          }
          ASSERT_NEAR(y[i * ldy + j], want, rel * mag + 1e-6) << "row " << i << " col " << j;
        }
      }
    }
  }
}

TEST_P(BackendOpsTest, EmbedGatherAndCopy2D) {
  const int64_t vocab = 9, cols = 64;
  std::vector<uint8_t> bytes = testing::RandomMatrix(DType::kQ4_1, vocab, cols, rng_);
  kernels::cpu::WeightMatrix host{DType::kQ4_1, bytes.data(), vocab, cols,
                                  static_cast<size_t>(cols / 32 * 20)};
  auto split = SplitForDevice(host);
  ASSERT_TRUE(split.ok());
  auto table = backend_->UploadWeight(host);
  ASSERT_TRUE(table.ok()) << table.status();
  const FlatBatch plan = MakeBatch({0, 3}, {4, 2}, 4, 8, rng_);
  ASSERT_TRUE(backend_->BeginStep(plan).ok());
  const int64_t n = plan.num_tokens();
  auto out = Put(std::vector<float>(n * cols));
  ASSERT_TRUE(backend_->Embed(**table, out->floats()).ok());
  const std::vector<float> got = Get(*out, n * cols);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t c = 0; c < cols; ++c) {
      ASSERT_EQ(got[t * cols + c], SplitWeightValue(*split, plan.tokens[t], c))
          << "token " << t << " col " << c;
    }
  }
  // The last token of each sequence: rows 3 and 5.
  auto rows = Put(std::vector<float>(2 * cols));
  ASSERT_TRUE(backend_->GatherLogitRows(out->floats(), cols, rows->floats()).ok());
  const std::vector<float> gathered = Get(*rows, 2 * cols);
  for (int64_t c = 0; c < cols; ++c) {
    ASSERT_EQ(gathered[c], got[3 * cols + c]);
    ASSERT_EQ(gathered[cols + c], got[5 * cols + c]);
  }
  // Columns [10, 30) of two rows into columns [5, 25) of a wider array.
  std::vector<float> wide(2 * 40, -1.f);
  auto dst = Put(wide);
  ASSERT_TRUE(backend_->Copy2D(dst->floats() + 5, 40, out->floats() + 10, cols, 2, 20).ok());
  const std::vector<float> copied = Get(*dst, wide.size());
  for (int64_t r = 0; r < 2; ++r) {
    for (int64_t c = 0; c < 40; ++c) {
      const float want = c >= 5 && c < 25 ? got[r * cols + 10 + c - 5] : -1.f;
      ASSERT_EQ(copied[r * 40 + c], want) << r << ", " << c;
    }
  }
}

TEST_P(BackendOpsTest, RopeAtFarPositionsBothLayouts) {
  const int64_t heads = 3, head_dim = 16;
  FlatBatch plan = MakeBatch({0, 5, 1000, 70000}, {1, 1, 1, 1}, 16, 5000, rng_);
  ASSERT_TRUE(backend_->BeginStep(plan).ok());
  for (bool interleaved : {false, true}) {
    for (int64_t rope_dim : {head_dim, head_dim / 2}) {
      for (float factor : {1.0f, 0.75f}) {
        std::vector<float> inv(static_cast<size_t>(rope_dim / 2));
        for (size_t i = 0; i < inv.size(); ++i) inv[i] = std::pow(10000.f, -2.f * i / rope_dim);
        const std::vector<float> x = Random(4 * heads * head_dim);
        auto bx = Put(x);
        auto bi = Put(inv);
        RopeSpec r{head_dim, rope_dim, bi->floats(), interleaved, factor};
        ASSERT_TRUE(backend_->Rope(bx->floats(), heads, r).ok());
        std::vector<double> want(x.begin(), x.end());
        for (int64_t t = 0; t < 4; ++t) {
          for (int64_t h = 0; h < heads; ++h) {
            double* v = &want[(t * heads + h) * head_dim];
            for (int64_t i = 0; i < rope_dim / 2; ++i) {
              const double angle = double(plan.positions[t]) * inv[i];
              const int64_t a = interleaved ? 2 * i : i;
              const int64_t b = interleaved ? 2 * i + 1 : i + rope_dim / 2;
              const double x0 = v[a], x1 = v[b];
              v[a] = (x0 * std::cos(angle) - x1 * std::sin(angle)) * factor;
              v[b] = (x0 * std::sin(angle) + x1 * std::cos(angle)) * factor;
            }
          }
        }
        ExpectNear(
            Get(*bx, x.size()), want, 1e-5, 1e-5,
            "rope interleaved=" + std::to_string(interleaved) + " dim=" + std::to_string(rope_dim));
      }
    }
  }
}

// Causal attention from its definition, in double: each token of `plan` over its sequence's
// positions [max(0, pos - window + 1), pos], K and V read as the values `k` and `v` hold at each
// pool element.
template <class Pool>
std::vector<double> ReferenceAttention(const AttentionShape& s, const FlatBatch& plan,
                                       const std::vector<float>& q, const Pool& k, const Pool& v) {
  std::vector<double> out(q.size());
  for (int64_t t = 0; t < plan.num_tokens(); ++t) {
    const int64_t pos = plan.positions[t];
    const int64_t first =
        s.sliding_window > 0 ? std::max<int64_t>(0, pos - s.sliding_window + 1) : 0;
    for (int64_t h = 0; h < s.num_heads; ++h) {
      const int64_t kvh = h / (s.num_heads / s.num_kv_heads);
      const float* qh = &q[(t * s.num_heads + h) * s.head_dim];
      const auto row = [&](int64_t p) {
        return plan.block_tables[plan.table_begin[t] + p / s.block_size] * s.block_floats() +
               s.row_offset(kvh, p);
      };
      std::vector<double> w;
      for (int64_t p = first; p <= pos; ++p) {
        double d = 0;
        for (int64_t i = 0; i < s.head_dim; ++i) d += double(qh[i]) * k[row(p) + i];
        d *= s.scale;
        if (s.softcap > 0) d = s.softcap * std::tanh(d / s.softcap);
        w.push_back(d);
      }
      const double mx = *std::max_element(w.begin(), w.end());
      double total = 0;
      for (double& x : w) total += (x = std::exp(x - mx));
      double* o = &out[(t * s.num_heads + h) * s.head_dim];
      for (int64_t p = first; p <= pos; ++p) {
        for (int64_t i = 0; i < s.head_dim; ++i) o[i] += w[p - first] / total * v[row(p) + i];
      }
    }
  }
  return out;
}

// K/V rows land where the block tables say; attention over them matches causal softmax in
// double, for prefill chunks and a long decode row (which a GPU splits over its positions), with
// GQA, a sliding window and soft-capping.
TEST_P(BackendOpsTest, WriteKvAndPagedAttention) {
  AttentionShape s;
  s.num_heads = 6;
  s.num_kv_heads = 2;
  s.head_dim = 32;
  s.block_size = 8;
  const int64_t num_blocks = 420;
  const int64_t pool = num_blocks * s.block_floats();
  // Sequence 0: a prefill of 12; sequence 1: one decode row at position 3000; sequence 2: three
  // rows at 40..42.
  const FlatBatch plan = MakeBatch({0, 3000, 40}, {12, 1, 3}, s.block_size, num_blocks, rng_);
  const int64_t n = plan.num_tokens();
  const int64_t kv_width = s.num_kv_heads * s.head_dim;
  // Earlier positions' K/V straight into the pools; this step's rows through WriteKv.
  std::vector<float> k_pool = Random(pool), v_pool = Random(pool);
  auto bk_pool = Put(k_pool);
  auto bv_pool = Put(v_pool);
  const std::vector<float> k = Random(n * kv_width), v = Random(n * kv_width);
  auto bk = Put(k);
  auto bv = Put(v);
  ASSERT_TRUE(backend_->BeginStep(plan).ok());
  ASSERT_TRUE(
      backend_->WriteKv(s, bk->floats(), bv->floats(), bk_pool->floats(), bv_pool->floats()).ok());
  for (int64_t t = 0; t < n; ++t) {
    const int64_t pos = plan.positions[t];
    const int64_t block = plan.block_tables[plan.table_begin[t] + pos / s.block_size];
    for (int64_t h = 0; h < s.num_kv_heads; ++h) {
      const int64_t at = block * s.block_floats() + s.row_offset(h, pos);
      std::copy_n(&k[t * kv_width + h * s.head_dim], s.head_dim, &k_pool[at]);
      std::copy_n(&v[t * kv_width + h * s.head_dim], s.head_dim, &v_pool[at]);
    }
  }
  ASSERT_EQ(Get(*bk_pool, pool), k_pool);
  ASSERT_EQ(Get(*bv_pool, pool), v_pool);

  for (int64_t window : {int64_t{0}, int64_t{5}}) {
    for (float softcap : {0.f, 2.f}) {
      s.sliding_window = window;
      s.scale = 1 / std::sqrt(float(s.head_dim));
      s.softcap = softcap;
      const std::vector<float> q = Random(n * s.num_heads * s.head_dim);
      auto bq = Put(q);
      auto bo = Put(std::vector<float>(q.size()));
      ASSERT_TRUE(
          backend_
              ->PagedAttention(s, bq->floats(), bk_pool->floats(), bv_pool->floats(), bo->floats())
              .ok());
      const std::vector<double> want = ReferenceAttention(s, plan, q, k_pool, v_pool);
      ExpectNear(
          Get(*bo, q.size()), want, 1e-4, 1e-5,
          "attention window=" + std::to_string(window) + " softcap=" + std::to_string(softcap));
    }
  }
}

// An F16 cache: WriteKv rounds each K/V value to nearest (the host's Fp32ToFp16 bits), and
// attention over the F16 pools matches the double reference of the rounded values.
TEST_P(BackendOpsTest, F16PoolsRoundOnWriteAndAttendLikeTheirValues) {
  AttentionShape s;
  s.num_heads = 4;
  s.num_kv_heads = 2;
  s.head_dim = 32;
  s.block_size = 4;
  s.kv_f16 = true;
  s.scale = 1 / std::sqrt(float(s.head_dim));
  const int64_t num_blocks = 12;
  const FlatBatch plan = MakeBatch({0, 0}, {9, 14}, s.block_size, num_blocks, rng_);
  const int64_t n = plan.num_tokens();
  const int64_t kv_width = s.num_kv_heads * s.head_dim;
  const int64_t pool = num_blocks * s.block_floats();
  const std::vector<float> k = Random(n * kv_width), v = Random(n * kv_width);
  auto bk = Put(k);
  auto bv = Put(v);
  auto k_pool = backend_->Allocate(pool * 2);
  auto v_pool = backend_->Allocate(pool * 2);
  ASSERT_TRUE(k_pool.ok() && v_pool.ok());
  ASSERT_TRUE(backend_->BeginStep(plan).ok());
  ASSERT_TRUE(
      backend_->WriteKv(s, bk->floats(), bv->floats(), (*k_pool)->data(), (*v_pool)->data()).ok());
  std::vector<uint16_t> k16(pool), v16(pool);
  ASSERT_TRUE(backend_->CopyToHost((*k_pool)->data(), pool * 2, k16.data()).ok());
  ASSERT_TRUE(backend_->CopyToHost((*v_pool)->data(), pool * 2, v16.data()).ok());
  // Every written element: the rounded value, as a float for the reference.
  std::vector<double> k_at(pool), v_at(pool);
  for (int64_t t = 0; t < n; ++t) {
    const int64_t pos = plan.positions[t];
    const int64_t block = plan.block_tables[plan.table_begin[t] + pos / s.block_size];
    for (int64_t h = 0; h < s.num_kv_heads; ++h) {
      for (int64_t i = 0; i < s.head_dim; ++i) {
        const int64_t at = block * s.block_floats() + s.row_offset(h, pos) + i;
        const int64_t from = t * kv_width + h * s.head_dim + i;
        ASSERT_EQ(k16[at], Fp32ToFp16(k[from])) << "token " << t << " head " << h << " dim " << i;
        ASSERT_EQ(v16[at], Fp32ToFp16(v[from]));
        k_at[at] = Fp16ToFp32(k16[at]);
        v_at[at] = Fp16ToFp32(v16[at]);
      }
    }
  }
  const std::vector<float> q = Random(n * s.num_heads * s.head_dim);
  auto bq = Put(q);
  auto bo = Put(std::vector<float>(q.size()));
  ASSERT_TRUE(
      backend_->PagedAttention(s, bq->floats(), (*k_pool)->data(), (*v_pool)->data(), bo->floats())
          .ok());
  const std::vector<double> want = ReferenceAttention(s, plan, q, k_at, v_at);
  ExpectNear(Get(*bo, q.size()), want, 1e-4, 1e-5, "attention over F16 pools");
}

TEST_P(BackendOpsTest, RefusesAPlanThatDoesNotAddUp) {
  FlatBatch plan = MakeBatch({0}, {3}, 4, 4, rng_);
  plan.positions.pop_back();
  EXPECT_EQ(backend_->BeginStep(plan).code(), absl::StatusCode::kInvalidArgument);
  plan = MakeBatch({0}, {3}, 4, 4, rng_);
  plan.logit_tokens = {3};
  EXPECT_EQ(backend_->BeginStep(plan).code(), absl::StatusCode::kInvalidArgument);
  plan = MakeBatch({0}, {3}, 4, 4, rng_);
  plan.max_position = 7;
  EXPECT_EQ(backend_->BeginStep(plan).code(), absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Devices, BackendOpsTest, ::testing::Values("cpu", "cuda"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace infer
