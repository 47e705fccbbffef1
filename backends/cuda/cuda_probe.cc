// Lists CUDA devices through the runtime API. No driver or no GPU means an empty list.
#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "backends/device_probes.h"

namespace trustformers::backends {

std::vector<DeviceInfo> ProbeCudaDevices() {
  std::vector<DeviceInfo> devices;
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error so later probes start clean
    return devices;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    DeviceInfo info;
    info.name = absl::StrCat("cuda:", i);
    info.kind = DeviceKind::kCuda;
    info.description = absl::StrCat(prop.name, " (sm_", prop.major, prop.minor, ")");
    info.memory_bytes = static_cast<int64_t>(prop.totalGlobalMem);
    info.compute_units = prop.multiProcessorCount;
    devices.push_back(std::move(info));
  }
  return devices;
}

}  // namespace trustformers::backends
