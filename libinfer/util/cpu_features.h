// Run-time CPU feature detection: kernels are compiled for several ISAs and picked here.
#ifndef INFER_UTIL_CPU_FEATURES_H_
#define INFER_UTIL_CPU_FEATURES_H_

#include <string>

namespace infer {

struct CpuFeatures {
  bool avx2 = false;    // AVX2 + FMA + F16C together (the "AVX2" kernel level)
  bool avx512 = false;  // AVX-512 F + BW + VL (the "AVX-512" kernel level)
  bool avx512_vnni = false;
};

// Features of the machine we run on, detected once. Setting the environment variable
// INFER_CPU_LEVEL to "portable", "avx2" or "avx512" caps the level (for tests and comparisons).
const CpuFeatures& GetCpuFeatures();

// "avx512" (needs VNNI too), "avx2" or "portable": the kernel level GetCpuFeatures() selects.
std::string CpuLevelName();

// The processor's name as CPUID reports it ("AMD EPYC 7B13", "Intel(R) Xeon(R) Processor"),
// trimmed; "unknown" where the instruction set has none. Benchmarks print it with every figure.
std::string CpuModelName();

}  // namespace infer

#endif  // INFER_UTIL_CPU_FEATURES_H_
