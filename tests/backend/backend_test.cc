#include "libinfer/backend/backend.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace infer {
namespace {

// RMSNorm computed here in double, from its definition.
std::vector<float> ReferenceRmsNorm(const std::vector<float>& x, const std::vector<float>& w,
                                    int64_t rows, int64_t cols, float eps) {
  std::vector<float> out(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < cols; ++i) ss += double(x[r * cols + i]) * x[r * cols + i];
    const double scale = 1.0 / std::sqrt(ss / cols + eps);
    for (int64_t i = 0; i < cols; ++i) out[r * cols + i] = float(x[r * cols + i] * scale * w[i]);
  }
  return out;
}

void CheckRmsNorm(Backend& backend) {
  const int64_t rows = 5, cols = 576;
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.f, 2.f);
  std::vector<float> x(rows * cols), w(cols), out(rows * cols);
  for (float& v : x) v = dist(rng);
  for (float& v : w) v = dist(rng);
  auto bx = backend.Allocate(x.size() * 4);
  auto bw = backend.Allocate(w.size() * 4);
  auto bo = backend.Allocate(out.size() * 4);
  ASSERT_TRUE(bx.ok() && bw.ok() && bo.ok());
  ASSERT_TRUE(backend.CopyToBuffer(x.data(), x.size() * 4, **bx).ok());
  ASSERT_TRUE(backend.CopyToBuffer(w.data(), w.size() * 4, **bw).ok());
  ASSERT_TRUE(
      backend.RmsNorm((*bx)->floats(), (*bw)->floats(), (*bo)->floats(), rows, cols, 1e-5f).ok());
  ASSERT_TRUE(backend.CopyFromBuffer(**bo, out.size() * 4, out.data()).ok());
  const std::vector<float> want = ReferenceRmsNorm(x, w, rows, cols, 1e-5f);
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_NEAR(out[i], want[i], 1e-5f * (1 + std::fabs(want[i]))) << "index " << i;
  }
  // A copy beyond a buffer is an error, not an overflow.
  auto tiny = backend.Allocate(16);
  ASSERT_TRUE(tiny.ok());
  EXPECT_EQ(backend.CopyToBuffer(x.data(), 20, **tiny).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(backend.CopyFromBuffer(**tiny, 20, out.data()).code(), absl::StatusCode::kOutOfRange);
}

TEST(BackendTest, CpuRmsNormMatchesDefinition) {
  std::unique_ptr<Backend> cpu = CreateCpuBackend();
  EXPECT_EQ(cpu->name(), "cpu (1 thread)");
  EXPECT_TRUE(cpu->host_memory());
  CheckRmsNorm(*cpu);
}

// Without a GPU (or without CUDA compiled in) the CUDA backend must say so with a Status; with
// one, its RMSNorm must match the same reference.
TEST(BackendTest, CudaRmsNormMatchesDefinitionOrReportsNoGpu) {
  auto cuda = CreateCudaBackend(0);
  if (!cuda.ok()) {
    EXPECT_TRUE(cuda.status().code() == absl::StatusCode::kUnavailable ||
                cuda.status().code() == absl::StatusCode::kUnimplemented)
        << cuda.status();
    EXPECT_FALSE(cuda.status().message().empty());
    EXPECT_EQ(CudaDeviceCount(), 0);
    GTEST_SKIP() << "no CUDA device: " << cuda.status().message();
  }
  CheckRmsNorm(**cuda);
}

}  // namespace
}  // namespace infer
