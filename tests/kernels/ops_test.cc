// The element-wise kernels against their definitions, computed in double.
#include "libinfer/kernels/cpu/ops.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "libinfer/kernels/cpu/ops_internal.h"
#include "libinfer/util/cpu_features.h"
#include "libinfer/util/fp16.h"

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

// SiLU and GELU times up, through the dispatch and (where the CPU has it) the AVX2 code itself:
// against the definitions in double, over every tail length, extreme gates, and in place.
TEST(OpsTest, GatedActivationsMatchTheirDefinitionsAtEveryLevel) {
  using Fn = void (*)(const float*, const float*, float*, int64_t);
  struct Kernel {
    const char* name;
    Fn fn;
    bool gelu;
  };
  std::vector<Kernel> kernels = {{"SiluMul", SiluMul, false}, {"GeluTanhMul", GeluTanhMul, true}};
#if defined(__x86_64__)
  if (GetCpuFeatures().avx2) {
    kernels.push_back({"SiluMulAvx2", SiluMulAvx2, false});
    kernels.push_back({"GeluTanhMulAvx2", GeluTanhMulAvx2, true});
  }
#endif
  std::vector<float> gate = RandomValues(203, 4.f, 5);
  gate[0] = 100.f;
  gate[1] = -100.f;
  gate[2] = 0.f;
  gate[3] = -0.f;
  gate[4] = 1e-30f;
  const std::vector<float> up = RandomValues(203, 1.f, 6);
  for (const Kernel& k : kernels) {
    for (int64_t n : {1, 7, 8, 9, 203}) {
      std::vector<float> out(static_cast<size_t>(n), 7.f);
      k.fn(gate.data(), up.data(), out.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const double v = gate[i];
        const double act =
            k.gelu
                ? 0.5 * v *
                      (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (v + 0.044715 * v * v * v)))
                : v / (1 + std::exp(-v));
        const double want = act * up[i];
        ASSERT_NEAR(out[i], want, 2e-6 * (1 + std::fabs(want)))
            << k.name << " n " << n << " gate " << gate[i];
      }
      // In place; an element's value does not depend on where the array ends.
      std::vector<float> in_place(gate.begin(), gate.begin() + n);
      k.fn(in_place.data(), up.data(), in_place.data(), n);
      EXPECT_EQ(in_place, out) << k.name;
      if (n > 1) {
        std::vector<float> shorter(static_cast<size_t>(n - 1));
        k.fn(gate.data(), up.data(), shorter.data(), n - 1);
        EXPECT_TRUE(std::equal(shorter.begin(), shorter.end(), out.begin())) << k.name;
      }
    }
  }
}

// ToF16 (an F16 KV cache's writes) rounds as Fp32ToFp16 does, bit for bit, at every level:
// halfway cases, subnormals, overflow to infinity, signed zeros; NaN stays NaN.
TEST(OpsTest, ToF16RoundsAsFp32ToFp16) {
  std::vector<float> x = RandomValues(1003, 3.f, 9);
  std::mt19937 rng(10);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 2000; ++i) x.push_back(Fp32FromBits(bits(rng)));
  for (uint32_t h = 0; h < 0x7c00; h += 7) {  // F16 values and the midpoints above them
    const float v = Fp16ToFp32(static_cast<uint16_t>(h));
    const float next = Fp16ToFp32(static_cast<uint16_t>(h + 1));
    x.push_back(v);
    x.push_back(-(v + (next - v) / 2));
  }
  for (float v : {0.f, -0.f, 65504.f, 65519.f, 65520.f, 1e9f, -1e9f, 5.9604645e-8f, 2.98e-8f}) {
    x.push_back(v);
  }
  using Fn = void (*)(const float*, int64_t, uint16_t*);
  std::vector<std::pair<const char*, Fn>> kernels = {{"ToF16", ToF16}};
#if defined(__x86_64__)
  if (GetCpuFeatures().avx2) kernels.push_back({"ToF16Avx2", ToF16Avx2});
#endif
  for (const auto& [name, fn] : kernels) {
    for (int64_t n : {int64_t{5}, static_cast<int64_t>(x.size())}) {
      std::vector<uint16_t> got(static_cast<size_t>(n));
      fn(x.data(), n, got.data());
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t want = Fp32ToFp16(x[i]);
        if (std::isnan(x[i])) {
          ASSERT_TRUE(std::isnan(Fp16ToFp32(got[i]))) << name << " " << i;
          continue;
        }
        ASSERT_EQ(got[i], want) << name << " x = " << x[i] << " (bits " << Fp32ToBits(x[i]) << ")";
      }
    }
  }
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
