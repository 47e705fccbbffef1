#include "backends/vulkan/vulkan_devices.h"

namespace trustformers::backends::vulkan {

VkResult CreateInstance(VkInstance* instance) {
  VkApplicationInfo app{};
  app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
  app.pApplicationName = "trustformers";
  app.apiVersion = VK_API_VERSION_1_2;
  VkInstanceCreateInfo create{};
  create.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
  create.pApplicationInfo = &app;
  return vkCreateInstance(&create, nullptr, instance);
}

std::optional<uint32_t> ComputeQueueFamily(VkPhysicalDevice device) {
  uint32_t count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(device, &count, nullptr);
  std::vector<VkQueueFamilyProperties> families(count);
  vkGetPhysicalDeviceQueueFamilyProperties(device, &count, families.data());
  for (uint32_t i = 0; i < count; ++i) {
    if ((families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) != 0) return i;
  }
  return std::nullopt;
}

std::vector<UsableDevice> UsableDevices(VkInstance instance, VkResult* result) {
  std::vector<UsableDevice> usable;
  uint32_t count = 0;
  *result = vkEnumeratePhysicalDevices(instance, &count, nullptr);
  if (*result != VK_SUCCESS) return usable;
  std::vector<VkPhysicalDevice> physical(count);
  // VK_INCOMPLETE only means a device appeared between the two calls; use the ones returned.
  *result = vkEnumeratePhysicalDevices(instance, &count, physical.data());
  if (*result < 0) return usable;
  *result = VK_SUCCESS;
  physical.resize(count);
  for (VkPhysicalDevice device : physical) {
    VkPhysicalDeviceProperties props{};
    vkGetPhysicalDeviceProperties(device, &props);
    if (props.apiVersion < VK_API_VERSION_1_2) continue;
    if (std::optional<uint32_t> family = ComputeQueueFamily(device)) {
      usable.push_back({device, *family});
    }
  }
  return usable;
}

}  // namespace trustformers::backends::vulkan
