// The host's memory as this process may use it: a pod's memory limit, not the node's RAM.
//
// total = min(MemTotal, the cgroup's limit); free = min(MemAvailable, limit - the cgroup's usage
// less its reclaimable page cache (inactive files: a mapped model file's pages among them)).
// cgroup v2 (memory.max, memory.current, memory.stat) and v1 (memory/memory.limit_in_bytes,
// memory.usage_in_bytes, memory.stat). Every memory budget of the library that defaults from
// "what the host has" reads it here, once: the Scheduler's KV cache and the cluster's device
// inventory.
#ifndef INFER_UTIL_HOST_MEMORY_H_
#define INFER_UTIL_HOST_MEMORY_H_

#include <cstdint>
#include <string>

namespace infer {

struct HostMemory {
  bool known = false;           // false: /proc/meminfo could not be read (the rest is zero)
  uint64_t total_bytes = 0;     // what the process may hold at most
  uint64_t free_bytes = 0;      // what it may still take now
  uint64_t resident_bytes = 0;  // this process's resident set (VmRSS)
  // Where the bound comes from: "/proc/meminfo", "cgroup v2 limit" or "cgroup v1 limit".
  std::string source;
};

// Reads /proc/meminfo, /proc/self/status and the cgroup files under `root` ("/" in production;
// tests give a fake tree). Never fails: what cannot be read is left out.
HostMemory ProbeHostMemory(const std::string& root = "/");

}  // namespace infer

#endif  // INFER_UTIL_HOST_MEMORY_H_
