// Run-time CPU feature detection: kernels are compiled for several ISAs and picked here.
#ifndef INFER_UTIL_CPU_FEATURES_H_
#define INFER_UTIL_CPU_FEATURES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace infer {

struct CpuFeatures {
  bool avx2 = false;    // AVX2 + FMA + F16C together (the "AVX2" kernel level)
  bool avx512 = false;  // AVX-512 F + BW + VL (the "AVX-512" kernel level)
  bool avx512_vnni = false;
  // AMX-TILE + AMX-INT8, with the operating system's permission to use the tile registers
  // (Linux grants it per process on request; a CPU or VM that lists AMX without it has amx false).
  bool amx = false;
};

// Features of the machine we run on, detected once. Setting the environment variable
// INFER_CPU_LEVEL to "portable", "avx2", "avx512" or "amx" caps the level (for tests and
// comparisons); any other value leaves the hardware's features, and CpuLevelSettingStatus()
// reports it.
const CpuFeatures& GetCpuFeatures();

// The features of `hardware` that the INFER_CPU_LEVEL value `cap` keeps: all of them for null or
// "" (unset) and for a level at or above the hardware's; InvalidArgument naming the value and the
// accepted ones when `cap` is none of "portable", "avx2", "avx512", "amx".
absl::StatusOr<CpuFeatures> CapCpuFeatures(const CpuFeatures& hardware, const char* cap);

// OK, or CapCpuFeatures' error for this process's INFER_CPU_LEVEL. Model::Load (and a cluster
// worker's start) refuse a value they do not know rather than run at a level nobody asked for.
absl::Status CpuLevelSettingStatus();

// What the CPU has, ignoring INFER_CPU_LEVEL.
const CpuFeatures& HardwareCpuFeatures();

// Kernel levels, lowest first (the CPU kernels compile one translation unit per level).
enum class CpuLevel : int { kPortable = 0, kAvx2 = 1, kAvx512 = 2, kAmx = 3 };

// "portable", "avx2", "avx512", "amx".
const char* CpuLevelString(CpuLevel level);

// The one rule from features to a kernel level: avx512 needs AVX-512 F, BW, VL and VNNI (without
// VNNI, AVX-512 gains little over the AVX2 kernels); amx needs that and AMX (tiles for the
// quantized products of many rows); avx2 needs AVX2 and FMA.
CpuLevel LevelOf(const CpuFeatures& features);

// The level the kernels use here: LevelOf(GetCpuFeatures()), so INFER_CPU_LEVEL caps it.
CpuLevel SelectedCpuLevel();

// CpuLevelString(SelectedCpuLevel()).
std::string CpuLevelName();

// The processor's name as CPUID reports it ("AMD EPYC 7B13", "Intel(R) Xeon(R) Processor"),
// trimmed; "unknown" where the instruction set has none. Benchmarks print it with every figure.
std::string CpuModelName();

}  // namespace infer

#endif  // INFER_UTIL_CPU_FEATURES_H_
