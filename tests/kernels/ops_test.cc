// The element-wise kernels against their definitions, computed in double.
#include "libinfer/kernels/cpu/ops.h"

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace infer::kernels::cpu {
namespace {

std::vector<float> RandomValues(int n, float spread, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, spread);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(OpsTest, GeluTanhMulIsTheTanhFormTimesUp) {
  const std::vector<float> gate = RandomValues(1000, 3.f, 1);
  const std::vector<float> up = RandomValues(1000, 1.f, 2);
  std::vector<float> out(gate.size());
  GeluTanhMul(gate.data(), up.data(), out.data(), static_cast<int64_t>(out.size()));
  for (size_t i = 0; i < out.size(); ++i) {
    const double v = gate[i];
    const double c = std::sqrt(2.0 / std::numbers::pi);
    const double want = 0.5 * v * (1.0 + std::tanh(c * (v + 0.044715 * v * v * v))) * up[i];
    ASSERT_NEAR(out[i], want, 1e-5 * (1.0 + std::fabs(want))) << "gate " << gate[i];
    // Close to the exact (erf) GELU it approximates.
    const double exact = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))) * up[i];
    ASSERT_NEAR(out[i], exact, 2e-3 * (1.0 + std::fabs(up[i])));
  }
  // In place, aliasing the gate.
  std::vector<float> in_place = gate;
  GeluTanhMul(in_place.data(), up.data(), in_place.data(), static_cast<int64_t>(up.size()));
  EXPECT_EQ(in_place, out);
}

TEST(OpsTest, SoftCapBendsTowardTheCap) {
  std::vector<float> x = RandomValues(500, 60.f, 3);
  const std::vector<float> before = x;
  SoftCap(x.data(), static_cast<int64_t>(x.size()), 30.f);
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = 30.0 * std::tanh(before[i] / 30.0);
    ASSERT_NEAR(x[i], want, 1e-5 * 30.0);
    ASSERT_LT(std::fabs(x[i]), 30.0f + 1e-4f);
  }
}

TEST(OpsTest, ScaleMultiplies) {
  std::vector<float> x = {1.f, -2.f, 0.5f};
  Scale(x.data(), 3, 16.f);
  EXPECT_EQ(x, (std::vector<float>{16.f, -32.f, 8.f}));
}

}  // namespace
}  // namespace infer::kernels::cpu
