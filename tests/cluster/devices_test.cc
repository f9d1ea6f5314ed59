// The device inventory over a fake /proc and /sys (cgroup v1 and v2 limits, page cache not
// counted as used) and a fake NVML library; the monitor seeing a change; and the pieces
// together: measured devices, computed costs and placement.
#include "libinfer/cluster/devices.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace infer::cluster {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr uint64_t kGiB = uint64_t{1} << 30;

class DevicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("infer_devices_" + std::to_string(getpid()));
    fs::remove_all(root_);
    Write("proc/meminfo",
          "MemTotal:       33554432 kB\nMemFree: 1 kB\nMemAvailable:   "
          "25165824 kB\n");                                           // 32 GiB, 24 available
    Write("proc/self/status", "Name: test\nVmRSS:     524288 kB\n");  // 512 MiB
    Gpus("80:70,24:4");
    setenv("FAKE_NVML_SPEC", (root_ / "nvml_spec").c_str(), 1);
  }
  void TearDown() override { fs::remove_all(root_); }
  // What the fake NVML reports ("total:free,..." in GiB, or "nodriver").
  void Gpus(const std::string& spec) { Write("nvml_spec", spec); }
  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  DeviceProbeOptions Options(bool nvml = false) const {
    DeviceProbeOptions o;
    o.root = root_.string();
    o.nvml_library = nvml ? INFER_FAKE_NVML : "";
    return o;
  }
  fs::path root_;
};

TEST_F(DevicesTest, HostMemoryWithoutACgroupLimitIsTheMachines) {
  const DeviceInventory inv = ProbeDevices(Options());
  ASSERT_EQ(inv.devices.size(), 1u);
  const DeviceInfo& host = inv.devices[0];
  EXPECT_EQ(host.id, "host");
  EXPECT_EQ(host.total_bytes, 32 * kGiB);
  EXPECT_EQ(host.free_bytes, 24 * kGiB);
  EXPECT_EQ(host.used_by_us_bytes, 512ull << 20);
  EXPECT_THAT(host.name, HasSubstr("/proc/meminfo"));
}

TEST_F(DevicesTest, ACgroupV2LimitBoundsTheHostAndPageCacheIsNotUsed) {
  Write("sys/fs/cgroup/memory.max", "8589934592\n");      // 8 GiB pod limit
  Write("sys/fs/cgroup/memory.current", "3221225472\n");  // 3 GiB charged ...
  Write("sys/fs/cgroup/memory.stat", "anon 1073741824\ninactive_file 2147483648\n");  // 2 cache
  const DeviceInfo host = ProbeDevices(Options()).devices.at(0);
  EXPECT_EQ(host.total_bytes, 8 * kGiB);
  EXPECT_EQ(host.free_bytes, 7 * kGiB);  // 8 - (3 - 2)
  EXPECT_THAT(host.name, HasSubstr("cgroup v2"));
  // "max": no limit.
  Write("sys/fs/cgroup/memory.max", "max\n");
  EXPECT_EQ(ProbeDevices(Options()).devices.at(0).total_bytes, 32 * kGiB);
}

TEST_F(DevicesTest, ACgroupV1LimitToo) {
  Write("sys/fs/cgroup/memory/memory.limit_in_bytes", "4294967296\n");
  Write("sys/fs/cgroup/memory/memory.usage_in_bytes", "1073741824\n");
  Write("sys/fs/cgroup/memory/memory.stat", "cache 5\ntotal_inactive_file 536870912\n");
  const DeviceInfo host = ProbeDevices(Options()).devices.at(0);
  EXPECT_EQ(host.total_bytes, 4 * kGiB);
  EXPECT_EQ(host.free_bytes, 4 * kGiB - (kGiB - kGiB / 2));
  // v1's "no limit" is a huge number.
  Write("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  EXPECT_EQ(ProbeDevices(Options()).devices.at(0).total_bytes, 32 * kGiB);
}

TEST_F(DevicesTest, CudaDevicesThroughNvml) {
  const DeviceInventory inv = ProbeDevices(Options(/*nvml=*/true));
  ASSERT_EQ(inv.devices.size(), 3u) << inv.nvml_error;
  EXPECT_EQ(inv.devices[1].id, "cuda:0");
  EXPECT_EQ(inv.devices[1].kind, DeviceKind::kCuda);
  EXPECT_EQ(inv.devices[1].name, "Fake GPU 0");
  EXPECT_EQ(inv.devices[1].total_bytes, 80 * kGiB);
  EXPECT_EQ(inv.devices[1].free_bytes, 70 * kGiB);
  EXPECT_EQ(inv.devices[2].free_bytes, 4 * kGiB);
  EXPECT_TRUE(inv.nvml_error.empty());
}

TEST_F(DevicesTest, NoDriverOrNoLibraryMeansNoCudaDevicesAndSaysWhy) {
  Gpus("nodriver");
  DeviceInventory inv = ProbeDevices(Options(true));
  EXPECT_EQ(inv.devices.size(), 1u);
  EXPECT_THAT(inv.nvml_error, HasSubstr("nvmlInit: Driver Not Loaded"));
  Gpus("80:70,24:4");
  DeviceProbeOptions o = Options();
  o.nvml_library = (root_ / "libnvidia-ml.so.1").string();
  inv = ProbeDevices(o);
  EXPECT_EQ(inv.devices.size(), 1u);
  EXPECT_THAT(inv.nvml_error, HasSubstr("no NVML"));
}

// The real machine, against what its /proc and cgroup files say (read here independently): the
// host's total is MemTotal, or the cgroup's limit when that is lower; free is within it.
TEST(RealMachineDevicesTest, TheHostIsWhatTheKernelSays) {
  uint64_t mem_total = 0;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    uint64_t kib = 0;
    std::string unit;
    meminfo >> kib >> unit;
    if (key == "MemTotal:") mem_total = kib * 1024;
  }
  ASSERT_GT(mem_total, 0u) << "no MemTotal in /proc/meminfo";
  uint64_t limit = mem_total;
  for (const char* path :
       {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream f(path);
    uint64_t v = 0;
    if (f >> v && v > 0) limit = std::min(limit, v);  // "max" does not parse: no limit
  }
  const DeviceInventory inv = ProbeDevices();
  ASSERT_FALSE(inv.devices.empty());
  const DeviceInfo& host = inv.devices[0];
  EXPECT_EQ(host.id, "host");
  EXPECT_EQ(host.kind, DeviceKind::kHost);
  EXPECT_EQ(host.total_bytes, limit);
  EXPECT_GT(host.free_bytes, 0u);
  EXPECT_LE(host.free_bytes, host.total_bytes);
  // Every other device is a GPU NVML listed; without a driver, none, and the reason is given.
  for (size_t i = 1; i < inv.devices.size(); ++i) {
    EXPECT_EQ(inv.devices[i].kind, DeviceKind::kCuda);
  }
  if (inv.devices.size() == 1) {
    EXPECT_FALSE(inv.nvml_error.empty());
  }
}

TEST_F(DevicesTest, TheMonitorSeesChanges) {
  DeviceMonitor monitor(Options(true), std::chrono::milliseconds(20));
  EXPECT_EQ(monitor.Snapshot().devices.size(), 3u);
  Gpus("80:70,24:4,24:24");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (monitor.Snapshot().devices.size() != 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(monitor.Snapshot().devices.size(), 4u);
}

TEST_F(DevicesTest, MeasuredDevicesPlannedWithoutOvercommit) {
  // cuda:0 80 GiB with 10 used by others and nothing of ours; cuda:1 24 GiB, 20 used, of which
  // 16 is a replica of ours (held) that reserved 16.
  const DeviceInventory inv = ProbeDevices(Options(true));
  ASSERT_EQ(inv.devices.size(), 3u);
  std::vector<DeviceCapacity> devices = {CapacityOf(inv.devices[1], 0, 0),
                                         CapacityOf(inv.devices[2], 16 * kGiB, 16 * kGiB)};
  EXPECT_EQ(devices[0].available_bytes(), 70 * kGiB);
  EXPECT_EQ(devices[1].used_by_others_bytes, 4 * kGiB);
  EXPECT_EQ(devices[1].available_bytes(), 4 * kGiB);
  // Reserved but not loaded yet: the reservation still counts, nothing is counted twice.
  EXPECT_EQ(CapacityOf(inv.devices[1], 20 * kGiB, 0).available_bytes(), 50 * kGiB);
  ReplicaRequest r;
  r.model = "chat";
  r.kind = DeviceKind::kCuda;
  r.bytes_per_rank = 5 * kGiB;
  r.max_replicas = true;
  auto plan = PlanPlacement(devices, std::vector{r});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->replicas.size(), 14u);  // floor(70 / 5) + floor(4 / 5)
}

}  // namespace
}  // namespace infer::cluster
