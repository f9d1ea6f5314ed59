// Devices and their memory: what this process may use, as placement (placement.h) needs it.
//
// - The host: its memory as the process's cgroup bounds it (a pod's memory limit, not the
//   node's RAM): total = min(MemTotal, the cgroup's limit); free = min(MemAvailable, limit -
//   the cgroup's usage less its reclaimable page cache). cgroup v2 (memory.max, memory.current,
//   memory.stat) and v1 (memory/memory.limit_in_bytes, memory.usage_in_bytes, memory.stat).
// - Each CUDA device, through NVML loaded with dlopen at run time (libnvidia-ml.so.1), so that
//   a build with CUDA still runs where there is no driver: total, free and used per device.
//   Without NVML there are no CUDA devices, and `nvml_error` says why.
//
// A DeviceMonitor refreshes the inventory in the background (every 0.5 s by default).
//
// All paths are read under a root folder ("/" in production) so that tests can give a fake
// /proc and /sys; the NVML library's path can be given too.
#ifndef INFER_CLUSTER_DEVICES_H_
#define INFER_CLUSTER_DEVICES_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "libinfer/cluster/placement.h"

namespace infer::cluster {

// One device as measured.
struct DeviceInfo {
  std::string id;    // "host", "cuda:0", ...
  std::string name;  // "host memory (cgroup v2 limit)", "NVIDIA H100 80GB HBM3", ...
  DeviceKind kind = DeviceKind::kHost;
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;
  // This process's own use: its resident set on the host; 0 on CUDA devices (NVML does not
  // tell one process's use without privileges; our reservations account for it).
  uint64_t used_by_us_bytes = 0;
};

struct DeviceInventory {
  std::vector<DeviceInfo> devices;  // the host first, then CUDA devices by index
  std::string nvml_error;           // why there are no CUDA devices, when there are none
  std::chrono::system_clock::time_point taken;
};

struct DeviceProbeOptions {
  // Prefix of /proc and /sys/fs/cgroup.
  std::string root = "/";
  // The NVML library to dlopen; empty: no CUDA devices are probed.
  std::string nvml_library = "libnvidia-ml.so.1";
};

// Reads the inventory once. Never fails: what cannot be read is left out (a host without
// /proc/meminfo reports no host device) and NVML's failure is in nvml_error.
DeviceInventory ProbeDevices(const DeviceProbeOptions& options = {});

// Placement's view of a device. `reserved_bytes`: all that our replicas have reserved on it
// (loaded or not); `held_bytes`: the part of it they already hold (on the host, pass
// used_by_us_bytes). What is used and not held by us is others': an underestimate of
// `held_bytes` only makes the plan more careful, never an overcommit.
DeviceCapacity CapacityOf(const DeviceInfo& device, uint64_t reserved_bytes, uint64_t held_bytes);

// Refreshes the inventory every `interval` on a thread of its own until destroyed.
// Thread-safe.
class DeviceMonitor {
 public:
  explicit DeviceMonitor(DeviceProbeOptions options = {},
                         std::chrono::milliseconds interval = std::chrono::milliseconds(500));
  ~DeviceMonitor();
  DeviceMonitor(const DeviceMonitor&) = delete;
  DeviceMonitor& operator=(const DeviceMonitor&) = delete;

  // The latest inventory (taken at construction, then every interval).
  DeviceInventory Snapshot() const;

 private:
  const DeviceProbeOptions options_;
  const std::chrono::milliseconds interval_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  DeviceInventory latest_;
  std::thread thread_;
};

}  // namespace infer::cluster

#endif  // INFER_CLUSTER_DEVICES_H_
