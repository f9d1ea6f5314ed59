// A stand-in for libnvidia-ml.so: the NVML entry points libinfer/cluster/devices.cc loads, with
// devices read from the file $FAKE_NVML_SPEC names ("total:free,total:free" in GiB; no file:
// "80:70,24:4"), and nvmlInit failing as "Driver Not Loaded" when the file says "nodriver".
// A file, not the environment, so that a test may change it while a monitor thread reads.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct FakeGpu {
  unsigned long long total, free;
};

std::string Spec() {
  const char* path = std::getenv("FAKE_NVML_SPEC");
  std::string s = "80:70,24:4";
  if (std::FILE* f = path != nullptr ? std::fopen(path, "r") : nullptr) {
    char buffer[256] = {};
    const size_t n = std::fread(buffer, 1, sizeof(buffer) - 1, f);
    std::fclose(f);
    s.assign(buffer, n);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  }
  return s;
}

std::vector<FakeGpu> Gpus() {
  const std::string s = Spec();
  std::vector<FakeGpu> out;
  size_t at = 0;
  while (at < s.size()) {
    size_t comma = s.find(',', at);
    if (comma == std::string::npos) comma = s.size();
    const std::string one = s.substr(at, comma - at);
    const size_t colon = one.find(':');
    if (colon != std::string::npos) {
      const unsigned long long gib = 1ull << 30;
      out.push_back({std::strtoull(one.c_str(), nullptr, 10) * gib,
                     std::strtoull(one.c_str() + colon + 1, nullptr, 10) * gib});
    }
    at = comma + 1;
  }
  return out;
}

struct Memory {
  unsigned long long total, free, used;
};

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int nvmlInit_v2() { return Spec() == "nodriver" ? 9 : 0; }
__attribute__((visibility("default"))) int nvmlShutdown() { return 0; }
__attribute__((visibility("default"))) int nvmlDeviceGetCount_v2(unsigned* n) {
  *n = static_cast<unsigned>(Gpus().size());
  return 0;
}
__attribute__((visibility("default"))) int nvmlDeviceGetHandleByIndex_v2(unsigned i, void** d) {
  if (i >= Gpus().size()) return 2;  // NVML_ERROR_INVALID_ARGUMENT
  *d = reinterpret_cast<void*>(static_cast<uintptr_t>(i) + 1);
  return 0;
}
__attribute__((visibility("default"))) int nvmlDeviceGetMemoryInfo(void* d, Memory* m) {
  const std::vector<FakeGpu> gpus = Gpus();
  const size_t i = reinterpret_cast<uintptr_t>(d) - 1;
  if (i >= gpus.size()) return 2;
  m->total = gpus[i].total;
  m->free = gpus[i].free;
  m->used = gpus[i].total - gpus[i].free;
  return 0;
}
__attribute__((visibility("default"))) int nvmlDeviceGetName(void* d, char* name, unsigned n) {
  std::snprintf(name, n, "Fake GPU %u", static_cast<unsigned>(reinterpret_cast<uintptr_t>(d) - 1));
  return 0;
}
__attribute__((visibility("default"))) const char* nvmlErrorString(int r) {
  return r == 9 ? "Driver Not Loaded" : "Unknown Error";
}

}  // extern "C"
