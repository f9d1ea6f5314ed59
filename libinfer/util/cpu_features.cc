#include "libinfer/util/cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace infer {
namespace {

CpuFeatures Detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  f.avx512 = f.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl");
  f.avx512_vnni = f.avx512 && __builtin_cpu_supports("avx512vnni");
#endif
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

std::string CpuLevelName() {
  const CpuFeatures& f = GetCpuFeatures();
  return f.avx512 && f.avx512_vnni ? "avx512" : f.avx2 ? "avx2" : "portable";
}

}  // namespace infer
