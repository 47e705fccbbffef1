#include "backends/device.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "backends/device_probes.h"

namespace trustformers::backends {

std::vector<std::string> CompiledBackends() {
  std::vector<std::string> names = {"cpu"};
#ifdef TF_HAVE_CUDA
  names.push_back("cuda");
#endif
#ifdef TF_HAVE_VULKAN
  names.push_back("vulkan");
#endif
  return names;
}

std::vector<DeviceInfo> ListDevices() {
  std::vector<DeviceInfo> devices = {ProbeCpu()};
#ifdef TF_HAVE_CUDA
  for (DeviceInfo& device : ProbeCudaDevices()) devices.push_back(std::move(device));
#endif
#ifdef TF_HAVE_VULKAN
  for (DeviceInfo& device : ProbeVulkanDevices()) devices.push_back(std::move(device));
#endif
  return devices;
}

absl::StatusOr<DeviceInfo> FindDevice(absl::string_view name) {
  std::vector<DeviceInfo> devices = ListDevices();
  std::vector<std::string> names;
  for (DeviceInfo& device : devices) {
    if (device.name == name) return std::move(device);
    names.push_back(device.name);
  }
  return absl::NotFoundError(absl::StrCat(
      "device '", name, "' is not available; this machine has ", absl::StrJoin(names, ", "),
      " (backends compiled in: ", absl::StrJoin(CompiledBackends(), ", "), ")"));
}

}  // namespace trustformers::backends
