#include "libinfer/util/cpu_features.h"

#include <cstdlib>
#include <cstring>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace infer {
namespace {

CpuFeatures DetectHardware() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  f.avx512 = f.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl");
  f.avx512_vnni = f.avx512 && __builtin_cpu_supports("avx512vnni");
#endif
  return f;
}

CpuFeatures Detect() {
  CpuFeatures f = HardwareCpuFeatures();
  if (const char* cap = std::getenv("INFER_CPU_LEVEL")) {
    if (std::strcmp(cap, "portable") == 0) {
      f = CpuFeatures{};
    } else if (std::strcmp(cap, "avx2") == 0) {
      f.avx512 = false;
      f.avx512_vnni = false;
    }
  }
  return f;
}

}  // namespace

const CpuFeatures& GetCpuFeatures() {
  static const CpuFeatures features = Detect();
  return features;
}

const CpuFeatures& HardwareCpuFeatures() {
  static const CpuFeatures features = DetectHardware();
  return features;
}

const char* CpuLevelString(CpuLevel level) {
  switch (level) {
    case CpuLevel::kAvx512:
      return "avx512";
    case CpuLevel::kAvx2:
      return "avx2";
    case CpuLevel::kPortable:
      break;
  }
  return "portable";
}

CpuLevel LevelOf(const CpuFeatures& f) {
  if (f.avx512 && f.avx512_vnni) return CpuLevel::kAvx512;
  if (f.avx2) return CpuLevel::kAvx2;
  return CpuLevel::kPortable;
}

CpuLevel SelectedCpuLevel() { return LevelOf(GetCpuFeatures()); }

std::string CpuLevelName() { return CpuLevelString(SelectedCpuLevel()); }

std::string CpuModelName() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned regs[4] = {};
  if (__get_cpuid(0x80000000u, &regs[0], &regs[1], &regs[2], &regs[3]) && regs[0] >= 0x80000004u) {
    char brand[49] = {};
    for (unsigned leaf = 0; leaf < 3; ++leaf) {
      __get_cpuid(0x80000002u + leaf, &regs[0], &regs[1], &regs[2], &regs[3]);
      std::memcpy(brand + 16 * leaf, regs, sizeof(regs));
    }
    std::string name(brand);
    const size_t begin = name.find_first_not_of(' ');
    const size_t end = name.find_last_not_of(' ');
    if (begin != std::string::npos) return name.substr(begin, end - begin + 1);
  }
#endif
  return "unknown";
}

}  // namespace infer
