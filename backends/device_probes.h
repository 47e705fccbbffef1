// For backend authors: each backend's probe, called by device.cc. Probes report what the driver
// sees and return an empty list when the driver or hardware is absent.
#pragma once

#include <vector>

#include "backends/device.h"

namespace trustformers::backends {

DeviceInfo ProbeCpu();
#ifdef TF_HAVE_CUDA
std::vector<DeviceInfo> ProbeCudaDevices();
#endif
#ifdef TF_HAVE_VULKAN
std::vector<DeviceInfo> ProbeVulkanDevices();
#endif

}  // namespace trustformers::backends
