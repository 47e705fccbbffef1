// Lists Vulkan 1.2+ devices with a compute queue. No loader, no driver or no device means an
// empty list; on CI machines Mesa's lavapipe shows up here as a CPU device.
#include <vulkan/vulkan.h>

#include "absl/strings/str_cat.h"
#include "backends/device_probes.h"
#include "backends/vulkan/vulkan_devices.h"

namespace trustformers::backends {
namespace {

int64_t DeviceLocalMemory(VkPhysicalDevice device) {
  VkPhysicalDeviceMemoryProperties memory{};
  vkGetPhysicalDeviceMemoryProperties(device, &memory);
  int64_t bytes = 0;
  for (uint32_t i = 0; i < memory.memoryHeapCount; ++i) {
    if ((memory.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0) {
      bytes += static_cast<int64_t>(memory.memoryHeaps[i].size);
    }
  }
  return bytes;
}

}  // namespace

std::vector<DeviceInfo> ProbeVulkanDevices() {
  std::vector<DeviceInfo> devices;
  VkInstance instance = VK_NULL_HANDLE;
  if (vulkan::CreateInstance(&instance) != VK_SUCCESS) return devices;

  VkResult result = VK_SUCCESS;
  for (const vulkan::UsableDevice& usable : vulkan::UsableDevices(instance, &result)) {
    VkPhysicalDeviceProperties props{};
    vkGetPhysicalDeviceProperties(usable.physical, &props);
    DeviceInfo info;
    info.name = absl::StrCat("vulkan:", devices.size());
    info.kind = DeviceKind::kVulkan;
    info.description =
        absl::StrCat(props.deviceName, " (Vulkan ", VK_API_VERSION_MAJOR(props.apiVersion), ".",
                     VK_API_VERSION_MINOR(props.apiVersion), ")");
    info.memory_bytes = DeviceLocalMemory(usable.physical);
    devices.push_back(std::move(info));
  }
  vkDestroyInstance(instance, nullptr);
  return devices;
}

}  // namespace trustformers::backends
