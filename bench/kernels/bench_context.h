// The context every kernel benchmark prints with its figures: the CPU's model and the kernel
// level MatMul and attention run at (INFER_CPU_LEVEL may cap it; a value it does not know stops
// the program).
#ifndef INFER_BENCH_KERNELS_BENCH_CONTEXT_H_
#define INFER_BENCH_KERNELS_BENCH_CONTEXT_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "benchmark/benchmark.h"
#include "libinfer/util/cpu_features.h"

namespace infer::bench {

inline const bool kCpuContext = [] {
  // A value of INFER_CPU_LEVEL the library does not know would leave the figures at the
  // hardware's level under a name nobody asked for.
  if (absl::Status level = CpuLevelSettingStatus(); !level.ok()) {
    std::fprintf(stderr, "%s\n", std::string(level.message()).c_str());
    std::exit(2);
  }
  benchmark::AddCustomContext("cpu_model", CpuModelName());
  benchmark::AddCustomContext("cpu_kernels", CpuLevelName());
  return true;
}();

}  // namespace infer::bench

#endif  // INFER_BENCH_KERNELS_BENCH_CONTEXT_H_
