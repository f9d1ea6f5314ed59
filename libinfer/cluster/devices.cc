#include "libinfer/cluster/devices.h"

#include <dlfcn.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libinfer/util/host_memory.h"
#include "libinfer/util/thread_guard.h"

namespace infer::cluster {
namespace {

void ProbeHost(const DeviceProbeOptions& o, DeviceInventory& inv) {
  const HostMemory m = ProbeHostMemory(o.root);
  if (!m.known) return;
  DeviceInfo host;
  host.id = "host";
  host.kind = DeviceKind::kHost;
  host.total_bytes = m.total_bytes;
  host.free_bytes = m.free_bytes;
  host.used_by_us_bytes = m.resident_bytes;
  host.name = absl::StrCat("host memory (", m.source, ")");
  inv.devices.push_back(std::move(host));
}

// The few NVML entry points used, declared here so that no NVML header is needed to build.
using NvmlReturn = int;
using NvmlDevice = void*;
struct NvmlMemory {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};

void ProbeNvml(const DeviceProbeOptions& o, DeviceInventory& inv) {
  if (o.nvml_library.empty()) {
    inv.nvml_error = "NVML not probed";
    return;
  }
  void* lib = dlopen(o.nvml_library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* e = dlerror();
    inv.nvml_error = absl::StrCat("no NVML (", o.nvml_library, ": ", e ? e : "not found",
                                  "): no NVIDIA driver here");
    return;
  }
  auto sym = [&](const char* name) { return dlsym(lib, name); };
  auto init = reinterpret_cast<NvmlReturn (*)()>(sym("nvmlInit_v2"));
  auto shutdown = reinterpret_cast<NvmlReturn (*)()>(sym("nvmlShutdown"));
  auto count = reinterpret_cast<NvmlReturn (*)(unsigned*)>(sym("nvmlDeviceGetCount_v2"));
  auto handle =
      reinterpret_cast<NvmlReturn (*)(unsigned, NvmlDevice*)>(sym("nvmlDeviceGetHandleByIndex_v2"));
  auto memory =
      reinterpret_cast<NvmlReturn (*)(NvmlDevice, NvmlMemory*)>(sym("nvmlDeviceGetMemoryInfo"));
  auto name =
      reinterpret_cast<NvmlReturn (*)(NvmlDevice, char*, unsigned)>(sym("nvmlDeviceGetName"));
  auto error = reinterpret_cast<const char* (*)(NvmlReturn)>(sym("nvmlErrorString"));
  if (!init || !shutdown || !count || !handle || !memory || !name) {
    inv.nvml_error = absl::StrCat(o.nvml_library, " lacks the NVML functions needed");
    dlclose(lib);
    return;
  }
  auto text = [&](NvmlReturn r) {
    return error != nullptr && error(r) != nullptr ? std::string(error(r))
                                                   : absl::StrCat("NVML error ", r);
  };
  if (NvmlReturn r = init(); r != 0) {
    inv.nvml_error = absl::StrCat("nvmlInit: ", text(r));
    dlclose(lib);
    return;
  }
  unsigned n = 0;
  if (NvmlReturn r = count(&n); r != 0) {
    inv.nvml_error = absl::StrCat("nvmlDeviceGetCount: ", text(r));
    n = 0;
  }
  for (unsigned i = 0; i < n; ++i) {
    NvmlDevice d = nullptr;
    NvmlMemory m{};
    if (handle(i, &d) != 0 || memory(d, &m) != 0) continue;
    DeviceInfo info;
    info.id = absl::StrCat("cuda:", i);
    info.kind = DeviceKind::kCuda;
    info.total_bytes = m.total;
    info.free_bytes = m.free;
    char buffer[96] = {};
    info.name = name(d, buffer, sizeof(buffer)) == 0 ? std::string(buffer) : "NVIDIA GPU";
    inv.devices.push_back(std::move(info));
  }
  if (n == 0 && inv.nvml_error.empty()) inv.nvml_error = "NVML sees no GPU";
  shutdown();
  dlclose(lib);
}

}  // namespace

DeviceInventory ProbeDevices(const DeviceProbeOptions& options) {
  DeviceInventory inv;
  ProbeHost(options, inv);
  ProbeNvml(options, inv);
  inv.taken = std::chrono::system_clock::now();
  return inv;
}

DeviceCapacity CapacityOf(const DeviceInfo& device, uint64_t reserved_bytes, uint64_t held_bytes) {
  DeviceCapacity c;
  c.id = device.id;
  c.kind = device.kind;
  c.total_bytes = device.total_bytes;
  c.reserved_bytes = reserved_bytes;
  const uint64_t used =
      device.total_bytes > device.free_bytes ? device.total_bytes - device.free_bytes : 0;
  c.used_by_others_bytes = used > held_bytes ? used - held_bytes : 0;
  return c;
}

DeviceMonitor::DeviceMonitor(DeviceProbeOptions options, std::chrono::milliseconds interval)
    : options_(std::move(options)), interval_(interval), latest_(ProbeDevices(options_)) {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      if (cv_.wait_for(lock, interval_, [this] { return stop_; })) break;
      lock.unlock();
      // A probe that throws keeps the last inventory (logged by the guard).
      DeviceInventory inv;
      const absl::Status thrown =
          RunGuarded("device monitor", [&] { inv = ProbeDevices(options_); });
      lock.lock();
      if (thrown.ok()) latest_ = std::move(inv);
    }
  });
}

DeviceMonitor::~DeviceMonitor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

DeviceInventory DeviceMonitor::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return latest_;
}

}  // namespace infer::cluster
