// Describes the host CPU from /proc/cpuinfo and sysconf.
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "backends/device_probes.h"

namespace trustformers::backends {
namespace {

std::string CpuModelName() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (absl::StartsWith(line, "model name")) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      }
    }
  }
  return "unknown CPU";
}

}  // namespace

DeviceInfo ProbeCpu() {
  DeviceInfo info;
  info.name = "cpu";
  info.kind = DeviceKind::kCpu;
  info.description = CpuModelName();
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) info.memory_bytes = int64_t{pages} * page_size;
  info.compute_units = static_cast<int>(std::thread::hardware_concurrency());
  return info;
}

}  // namespace trustformers::backends
