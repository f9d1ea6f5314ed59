// The context every kernel benchmark prints with its figures: the CPU's model and the kernel
// level MatMul and attention run at (INFER_CPU_LEVEL may cap it).
#ifndef INFER_BENCH_KERNELS_BENCH_CONTEXT_H_
#define INFER_BENCH_KERNELS_BENCH_CONTEXT_H_

#include "benchmark/benchmark.h"
#include "libinfer/util/cpu_features.h"

namespace infer::bench {

inline const bool kCpuContext = [] {
  benchmark::AddCustomContext("cpu_model", CpuModelName());
  benchmark::AddCustomContext("cpu_kernels", CpuLevelName());
  return true;
}();

}  // namespace infer::bench

#endif  // INFER_BENCH_KERNELS_BENCH_CONTEXT_H_
