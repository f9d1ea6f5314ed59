#include "libinfer/util/host_memory.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/numbers.h"

namespace infer {
namespace {

std::string Path(const std::string& root, const std::string& path) {
  if (root.empty() || root == "/") return path;
  return root.back() == '/' ? root + path.substr(1) : root + path;
}

// The first line of a file, or empty.
std::string ReadLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// "key value [kB]" lines (/proc/meminfo, /proc/self/status, memory.stat) as bytes.
std::map<std::string, uint64_t> ReadKeyValues(const std::string& path, uint64_t unit) {
  std::map<std::string, uint64_t> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key, value;
    if (!(fields >> key >> value)) continue;
    if (!key.empty() && key.back() == ':') key.pop_back();
    uint64_t v = 0;
    if (absl::SimpleAtoi(value, &v)) out[key] = v * unit;
  }
  return out;
}

// A cgroup limit file: a byte count, or "max" / a huge number (no limit) as 0.
uint64_t ReadLimit(const std::string& path) {
  const std::string s = ReadLine(path);
  uint64_t v = 0;
  if (s.empty() || s == "max" || !absl::SimpleAtoi(s, &v)) return 0;
  return v >= (uint64_t{1} << 60) ? 0 : v;  // v1 writes "no limit" as ~2^63
}

uint64_t ReadCount(const std::string& path) {
  uint64_t v = 0;
  return absl::SimpleAtoi(ReadLine(path), &v) ? v : 0;
}

bool Exists(const std::string& path) { return std::ifstream(path).good(); }

}  // namespace

HostMemory ProbeHostMemory(const std::string& root) {
  HostMemory m;
  const auto meminfo = ReadKeyValues(Path(root, "/proc/meminfo"), 1024);
  const auto total_it = meminfo.find("MemTotal");
  if (total_it == meminfo.end()) return m;
  m.known = true;
  m.total_bytes = total_it->second;
  const auto avail_it = meminfo.find("MemAvailable");
  m.free_bytes = avail_it != meminfo.end() ? avail_it->second : 0;
  m.source = "/proc/meminfo";
  const std::string v2 = Path(root, "/sys/fs/cgroup/memory.max");
  const std::string v1 = Path(root, "/sys/fs/cgroup/memory/memory.limit_in_bytes");
  uint64_t limit = 0, usage = 0;
  std::map<std::string, uint64_t> stat;
  std::string which;
  if (Exists(v2)) {
    limit = ReadLimit(v2);
    usage = ReadCount(Path(root, "/sys/fs/cgroup/memory.current"));
    stat = ReadKeyValues(Path(root, "/sys/fs/cgroup/memory.stat"), 1);
    which = "cgroup v2 limit";
  } else if (Exists(v1)) {
    limit = ReadLimit(v1);
    usage = ReadCount(Path(root, "/sys/fs/cgroup/memory/memory.usage_in_bytes"));
    stat = ReadKeyValues(Path(root, "/sys/fs/cgroup/memory/memory.stat"), 1);
    which = "cgroup v1 limit";
  }
  if (limit > 0 && limit < m.total_bytes) {
    const uint64_t inactive = stat.count("inactive_file")         ? stat["inactive_file"]
                              : stat.count("total_inactive_file") ? stat["total_inactive_file"]
                                                                  : 0;
    const uint64_t used = usage > inactive ? usage - inactive : 0;
    m.total_bytes = limit;
    m.free_bytes = std::min(m.free_bytes, used >= limit ? 0 : limit - used);
    m.source = which;
  }
  const auto status = ReadKeyValues(Path(root, "/proc/self/status"), 1024);
  if (auto rss = status.find("VmRSS"); rss != status.end()) m.resident_bytes = rss->second;
  return m;
}

}  // namespace infer
