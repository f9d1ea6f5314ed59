// The CPU's name and kernel level, checked against what the kernel reports in /proc/cpuinfo.
#include "libinfer/util/cpu_features.h"

#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace infer {
namespace {

// The first `key` line of /proc/cpuinfo, after its colon; empty when there is none.
std::string CpuInfoField(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) return "";
    const size_t begin = line.find_first_not_of(" \t", colon + 1);
    return begin == std::string::npos ? "" : line.substr(begin);
  }
  return "";
}

TEST(CpuFeaturesTest, ModelNameIsWhatTheKernelReports) {
  const std::string want = CpuInfoField("model name");
  if (want.empty()) GTEST_SKIP() << "/proc/cpuinfo has no model name on this machine";
  EXPECT_EQ(CpuModelName(), want);
}

TEST(CpuFeaturesTest, LevelNeverExceedsTheFlags) {
  const std::string listed = CpuInfoField("flags");
  if (listed.empty()) GTEST_SKIP() << "/proc/cpuinfo has no flags on this machine";
  std::string flags(1, ' ');
  flags.append(listed).push_back(' ');
  const std::string level = CpuLevelName();
  if (level == "avx512" || level == "amx") {
    for (const char* f : {" avx512f ", " avx512bw ", " avx512vl ", " avx512_vnni "}) {
      EXPECT_NE(flags.find(f), std::string::npos) << f;
    }
  }
  if (level == "amx") {
    for (const char* f : {" amx_tile ", " amx_int8 "}) {
      EXPECT_NE(flags.find(f), std::string::npos) << f;
    }
  }
  if (level != "portable") {
    for (const char* f : {" avx2 ", " fma "}) EXPECT_NE(flags.find(f), std::string::npos) << f;
  }
}

// The one rule from features to a level, case by case.
TEST(CpuFeaturesTest, LevelOfFollowsTheRule) {
  EXPECT_EQ(LevelOf({}), CpuLevel::kPortable);
  EXPECT_EQ(LevelOf({.avx2 = true}), CpuLevel::kAvx2);
  // AVX-512 without VNNI stays on the AVX2 kernels.
  EXPECT_EQ(LevelOf({.avx2 = true, .avx512 = true}), CpuLevel::kAvx2);
  EXPECT_EQ(LevelOf({.avx2 = true, .avx512 = true, .avx512_vnni = true}), CpuLevel::kAvx512);
  EXPECT_STREQ(CpuLevelString(CpuLevel::kAvx512), "avx512");
  // AMX only on top of the AVX-512 VNNI level.
  EXPECT_EQ(LevelOf({.avx2 = true, .avx512 = true, .avx512_vnni = true, .amx = true}),
            CpuLevel::kAmx);
  EXPECT_EQ(LevelOf({.avx2 = true, .amx = true}), CpuLevel::kAvx2);
  EXPECT_STREQ(CpuLevelString(CpuLevel::kAmx), "amx");
  EXPECT_EQ(CpuLevelName(), CpuLevelString(SelectedCpuLevel()));
  // INFER_CPU_LEVEL caps the selected level, never the hardware's.
  EXPECT_LE(static_cast<int>(SelectedCpuLevel()), static_cast<int>(LevelOf(HardwareCpuFeatures())));
}

// INFER_CPU_LEVEL's values: each known level caps, unset or a higher level keeps everything, and
// anything else is an error naming the value.
TEST(CpuFeaturesTest, CapKnowsTheFourLevelsAndRefusesTheRest) {
  const CpuFeatures all{.avx2 = true, .avx512 = true, .avx512_vnni = true, .amx = true};
  auto level = [&](const char* cap) { return LevelOf(CapCpuFeatures(all, cap).value()); };
  EXPECT_EQ(level(nullptr), CpuLevel::kAmx);
  EXPECT_EQ(level(""), CpuLevel::kAmx);
  EXPECT_EQ(level("amx"), CpuLevel::kAmx);
  EXPECT_EQ(level("avx512"), CpuLevel::kAvx512);
  EXPECT_EQ(level("avx2"), CpuLevel::kAvx2);
  EXPECT_EQ(level("portable"), CpuLevel::kPortable);
  // A cap above the hardware leaves the hardware's level.
  const CpuFeatures avx2_only{.avx2 = true};
  EXPECT_EQ(LevelOf(CapCpuFeatures(avx2_only, "avx512").value()), CpuLevel::kAvx2);
  for (const char* bad : {"AVX512", "avx-512", "avx512 ", "native", "3"}) {
    absl::StatusOr<CpuFeatures> got = CapCpuFeatures(avx2_only, bad);
    ASSERT_FALSE(got.ok()) << bad;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(got.status().message().find(std::string("INFER_CPU_LEVEL=\"") + bad + "\""),
              std::string::npos)
        << got.status();
    EXPECT_NE(got.status().message().find("portable, avx2, avx512 or amx"), std::string::npos);
    EXPECT_NE(got.status().message().find("avx2 here"), std::string::npos) << got.status();
  }
  // A control character in the value is escaped in the message.
  absl::StatusOr<CpuFeatures> got = CapCpuFeatures(all, "avx\n2");
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("avx\\n2"), std::string::npos) << got.status();
}

}  // namespace
}  // namespace infer
