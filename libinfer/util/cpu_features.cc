#include "libinfer/util/cpu_features.h"

#include <cstdlib>
#include <cstring>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace infer {
namespace {

// Whether the CPU has AMX-TILE and AMX-INT8 and this process may use the tile data: Linux
// enables the tile state per process on request (arch_prctl ARCH_REQ_XCOMP_PERM for
// XFEATURE_XTILEDATA), and refuses where the kernel or hypervisor does not support it; an
// instruction on tiles without that permission would fault.
bool DetectAmx() {
#if defined(__linux__) && defined(__x86_64__)
  unsigned eax = 0;
  unsigned ebx = 0;
  unsigned ecx = 0;
  unsigned edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  const bool tile = ((edx >> 24) & 1) != 0;
  const bool int8 = ((edx >> 25) & 1) != 0;
  if (!tile || !int8) return false;
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

CpuFeatures DetectHardware() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  f.avx512 = f.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl");
  f.avx512_vnni = f.avx512 && __builtin_cpu_supports("avx512vnni");
  f.amx = f.avx512_vnni && DetectAmx();
#endif
  return f;
}

// The hardware's features under this process's INFER_CPU_LEVEL, read once.
const absl::StatusOr<CpuFeatures>& CappedFeatures() {
  static const absl::StatusOr<CpuFeatures> capped =
      CapCpuFeatures(HardwareCpuFeatures(), std::getenv("INFER_CPU_LEVEL"));
  return capped;
}

}  // namespace

const CpuFeatures& GetCpuFeatures() {
  static const CpuFeatures features =
      CappedFeatures().ok() ? *CappedFeatures() : HardwareCpuFeatures();
  return features;
}

absl::StatusOr<CpuFeatures> CapCpuFeatures(const CpuFeatures& hardware, const char* cap) {
  CpuFeatures f = hardware;
  if (cap == nullptr || *cap == '\0' || std::strcmp(cap, "amx") == 0) return f;
  if (std::strcmp(cap, "avx512") == 0) {
    f.amx = false;
  } else if (std::strcmp(cap, "avx2") == 0) {
    f.avx512 = false;
    f.avx512_vnni = false;
    f.amx = false;
  } else if (std::strcmp(cap, "portable") == 0) {
    f = CpuFeatures{};
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "INFER_CPU_LEVEL=\"", absl::CHexEscape(cap),
        "\" is not a kernel level: use portable, avx2, avx512 or amx (a cap on the level this CPU "
        "allows, ",
        CpuLevelString(LevelOf(hardware)), " here), or unset it"));
  }
  return f;
}

absl::Status CpuLevelSettingStatus() { return CappedFeatures().status(); }

const CpuFeatures& HardwareCpuFeatures() {
  static const CpuFeatures features = DetectHardware();
  return features;
}

const char* CpuLevelString(CpuLevel level) {
  switch (level) {
    case CpuLevel::kAmx:
      return "amx";
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
  if (f.avx512 && f.avx512_vnni) return f.amx ? CpuLevel::kAmx : CpuLevel::kAvx512;
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
