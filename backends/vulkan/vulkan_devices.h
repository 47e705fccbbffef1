// Which Vulkan physical devices trustformers can use, in the order that names them vulkan:0,
// vulkan:1, ...: Vulkan 1.2 or newer with a compute queue. The probe and every user of a device
// index go through this one filter so an index always means the same device.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace trustformers::backends::vulkan {

struct UsableDevice {
  VkPhysicalDevice physical = VK_NULL_HANDLE;
  // The first queue family with VK_QUEUE_COMPUTE_BIT.
  uint32_t compute_queue_family = 0;
};

// Creates the Vulkan 1.2 instance trustformers uses; the caller destroys it.
VkResult CreateInstance(VkInstance* instance);

std::optional<uint32_t> ComputeQueueFamily(VkPhysicalDevice device);

// The usable devices of `instance`; VK_SUCCESS or the failing enumeration's result in *result.
std::vector<UsableDevice> UsableDevices(VkInstance instance, VkResult* result);

}  // namespace trustformers::backends::vulkan
