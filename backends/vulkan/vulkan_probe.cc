// Lists Vulkan 1.2+ devices with a compute queue. No loader, no driver or no device means an
// empty list; on CI machines Mesa's lavapipe shows up here as a CPU device.
#include <vulkan/vulkan.h>

#include "absl/strings/str_cat.h"
#include "backends/device_probes.h"

namespace trustformers::backends {
namespace {

bool HasComputeQueue(VkPhysicalDevice device) {
  uint32_t count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(device, &count, nullptr);
  std::vector<VkQueueFamilyProperties> families(count);
  vkGetPhysicalDeviceQueueFamilyProperties(device, &count, families.data());
  for (const VkQueueFamilyProperties& family : families) {
    if ((family.queueFlags & VK_QUEUE_COMPUTE_BIT) != 0) return true;
  }
  return false;
}

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
  VkApplicationInfo app{};
  app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
  app.pApplicationName = "trustformers";
  app.apiVersion = VK_API_VERSION_1_2;
  VkInstanceCreateInfo create{};
  create.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
  create.pApplicationInfo = &app;
  VkInstance instance = VK_NULL_HANDLE;
  if (vkCreateInstance(&create, nullptr, &instance) != VK_SUCCESS) return devices;

  uint32_t count = 0;
  vkEnumeratePhysicalDevices(instance, &count, nullptr);
  std::vector<VkPhysicalDevice> physical(count);
  vkEnumeratePhysicalDevices(instance, &count, physical.data());
  for (VkPhysicalDevice device : physical) {
    VkPhysicalDeviceProperties props{};
    vkGetPhysicalDeviceProperties(device, &props);
    if (props.apiVersion < VK_API_VERSION_1_2 || !HasComputeQueue(device)) continue;
    DeviceInfo info;
    info.name = absl::StrCat("vulkan:", devices.size());
    info.kind = DeviceKind::kVulkan;
    info.description =
        absl::StrCat(props.deviceName, " (Vulkan ", VK_API_VERSION_MAJOR(props.apiVersion), ".",
                     VK_API_VERSION_MINOR(props.apiVersion), ")");
    info.memory_bytes = DeviceLocalMemory(device);
    devices.push_back(std::move(info));
  }
  vkDestroyInstance(instance, nullptr);
  return devices;
}

}  // namespace trustformers::backends
