// Vulkan self test: the smallest full round trip through a device (buffers, descriptors, push
// constants, pipeline, dispatch, fence, readback). Plain C API, every handle released on every
// path, every VkResult turned into a Status naming the step, so a failing driver is diagnosable.
#include "backends/vulkan/vulkan_self_test.h"

#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "backends/vulkan/vulkan_devices.h"
#include "shaders/affine.spv.h"

namespace trustformers::backends::vulkan {
namespace {

// Debian's absl::string_view is its own type, not std::string_view: StrCat takes only absl's.

constexpr uint32_t kElementCount = 1000;
constexpr VkDeviceSize kBufferBytes = kElementCount * sizeof(float);
constexpr uint32_t kLocalSizeX = 64;  // Must match local_size_x in shaders/affine.comp.
constexpr float kScale = 2.0f;
constexpr float kShift = 1.0f;
// Lavapipe on a loaded CI machine needs milliseconds; 10 s only catches a hung driver.
constexpr uint64_t kFenceTimeoutNs = 10'000'000'000;

// Mirrors the push_constant block of affine.comp (std430: three 4-byte scalars, no padding).
struct AffineParams {
  uint32_t count;
  float scale;
  float shift;
};
static_assert(sizeof(AffineParams) == 12);

// Multiples of 0.5 well inside 2^24: input and output are exact in float, so a fused or an
// unfused multiply-add gives the same bits and the check can compare exactly.
float InputValue(uint32_t i) { return static_cast<float>(i) * 0.5f - 100.0f; }

// The headers of Debian 12 ship no string helper; names for the results a user is likely to see.
absl::string_view ResultName(VkResult result) {
  switch (result) {
    case VK_SUCCESS:
      return "VK_SUCCESS";
    case VK_TIMEOUT:
      return "VK_TIMEOUT";
    case VK_INCOMPLETE:
      return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY:
      return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
      return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED:
      return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST:
      return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED:
      return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT:
      return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT:
      return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT:
      return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER:
      return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS:
      return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_OUT_OF_POOL_MEMORY:
      return "VK_ERROR_OUT_OF_POOL_MEMORY";
    case VK_ERROR_INVALID_SHADER_NV:
      return "VK_ERROR_INVALID_SHADER_NV";
    case VK_ERROR_UNKNOWN:
      return "VK_ERROR_UNKNOWN";
    default:
      return "see vulkan_core.h";
  }
}

// Results that mean "this machine's driver or device cannot do it" are the user's to fix
// (install a driver, pick another device); anything else is a failure inside the run.
absl::Status VkFailure(absl::string_view step, VkResult result) {
  std::string message = absl::StrCat(step, " failed with VkResult ", static_cast<int>(result), " (",
                                     ResultName(result), ")");
  switch (result) {
    case VK_ERROR_INITIALIZATION_FAILED:
    case VK_ERROR_LAYER_NOT_PRESENT:
    case VK_ERROR_EXTENSION_NOT_PRESENT:
    case VK_ERROR_FEATURE_NOT_PRESENT:
    case VK_ERROR_INCOMPATIBLE_DRIVER:
      return absl::FailedPreconditionError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status SelectDevice(VkInstance instance, int device_index, UsableDevice* selected) {
  VkResult result = VK_SUCCESS;
  std::vector<UsableDevice> usable = UsableDevices(instance, &result);
  if (result != VK_SUCCESS) return VkFailure("vkEnumeratePhysicalDevices", result);
  if (device_index < 0 || static_cast<size_t>(device_index) >= usable.size()) {
    std::string valid = usable.empty() ? std::string("none: is a Vulkan 1.2 driver installed?")
                                       : absl::StrCat("valid indices 0..", usable.size() - 1);
    return absl::NotFoundError(
        absl::StrCat("no device with index ", device_index, "; ", usable.size(),
                     " device(s) have Vulkan 1.2 and a compute queue (", valid, ")"));
  }
  *selected = usable[static_cast<size_t>(device_index)];
  return absl::OkStatus();
}

// Host-visible and coherent so the test needs no staging copies and no explicit flushes.
std::optional<uint32_t> FindHostMemoryType(VkPhysicalDevice physical, uint32_t allowed_types) {
  constexpr VkMemoryPropertyFlags kWanted =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  VkPhysicalDeviceMemoryProperties memory{};
  vkGetPhysicalDeviceMemoryProperties(physical, &memory);
  for (uint32_t i = 0; i < memory.memoryTypeCount; ++i) {
    if ((allowed_types & (1u << i)) == 0) continue;
    if ((memory.memoryTypes[i].propertyFlags & kWanted) == kWanted) return i;
  }
  return std::nullopt;
}

// Creates a storage buffer with its own memory. On failure the handles already written stay in
// *buffer / *memory for the caller's cleanup to release.
absl::Status CreateHostBuffer(VkPhysicalDevice physical, VkDevice device, absl::string_view name,
                              VkBuffer* buffer, VkDeviceMemory* memory) {
  VkBufferCreateInfo buffer_info{};
  buffer_info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
  buffer_info.size = kBufferBytes;
  buffer_info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
  buffer_info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  if (VkResult r = vkCreateBuffer(device, &buffer_info, nullptr, buffer); r != VK_SUCCESS) {
    return VkFailure(absl::StrCat("vkCreateBuffer (", name, ")"), r);
  }
  VkMemoryRequirements requirements{};
  vkGetBufferMemoryRequirements(device, *buffer, &requirements);
  std::optional<uint32_t> type = FindHostMemoryType(physical, requirements.memoryTypeBits);
  if (!type.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no HOST_VISIBLE|HOST_COHERENT memory type allowed for the ", name,
        " storage buffer (memoryTypeBits 0x", absl::Hex(requirements.memoryTypeBits), ")"));
  }
  VkMemoryAllocateInfo allocate{};
  allocate.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
  allocate.allocationSize = requirements.size;
  allocate.memoryTypeIndex = *type;
  if (VkResult r = vkAllocateMemory(device, &allocate, nullptr, memory); r != VK_SUCCESS) {
    return VkFailure(absl::StrCat("vkAllocateMemory (", name, ")"), r);
  }
  if (VkResult r = vkBindBufferMemory(device, *buffer, *memory, 0); r != VK_SUCCESS) {
    return VkFailure(absl::StrCat("vkBindBufferMemory (", name, ")"), r);
  }
  return absl::OkStatus();
}

// Maps `memory`, lets `fill` touch kElementCount floats, unmaps. Coherent memory: no flush.
template <typename Fn>
absl::Status WithMapped(VkDevice device, VkDeviceMemory memory, absl::string_view name, Fn fill) {
  void* data = nullptr;
  if (VkResult r = vkMapMemory(device, memory, 0, kBufferBytes, 0, &data); r != VK_SUCCESS) {
    return VkFailure(absl::StrCat("vkMapMemory (", name, ")"), r);
  }
  absl::Status status = fill(static_cast<float*>(data));
  vkUnmapMemory(device, memory);
  return status;
}

absl::Status RunSelfTestImpl(int device_index) {
  VkInstance instance = VK_NULL_HANDLE;
  if (VkResult r = CreateInstance(&instance); r != VK_SUCCESS) {
    return VkFailure("vkCreateInstance (is a Vulkan driver installed?)", r);
  }
  absl::Cleanup destroy_instance = [instance] { vkDestroyInstance(instance, nullptr); };

  UsableDevice selected;
  if (absl::Status s = SelectDevice(instance, device_index, &selected); !s.ok()) return s;

  const float priority = 1.0f;
  VkDeviceQueueCreateInfo queue_info{};
  queue_info.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
  queue_info.queueFamilyIndex = selected.compute_queue_family;
  queue_info.queueCount = 1;
  queue_info.pQueuePriorities = &priority;
  VkDeviceCreateInfo device_info{};
  device_info.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
  device_info.queueCreateInfoCount = 1;
  device_info.pQueueCreateInfos = &queue_info;
  VkDevice device = VK_NULL_HANDLE;
  if (VkResult r = vkCreateDevice(selected.physical, &device_info, nullptr, &device);
      r != VK_SUCCESS) {
    return VkFailure("vkCreateDevice", r);
  }
  absl::Cleanup destroy_device = [device] { vkDestroyDevice(device, nullptr); };
  VkQueue queue = VK_NULL_HANDLE;
  vkGetDeviceQueue(device, selected.compute_queue_family, 0, &queue);

  // Index 0 = shader binding 0 (input), 1 = binding 1 (output). Destroying or freeing a null
  // handle is a no-op, so one cleanup covers partially created pairs.
  std::array<VkBuffer, 2> buffers = {VK_NULL_HANDLE, VK_NULL_HANDLE};
  std::array<VkDeviceMemory, 2> memories = {VK_NULL_HANDLE, VK_NULL_HANDLE};
  absl::Cleanup destroy_buffers = [device, &buffers, &memories] {
    for (VkBuffer buffer : buffers) vkDestroyBuffer(device, buffer, nullptr);
    for (VkDeviceMemory memory : memories) vkFreeMemory(device, memory, nullptr);
  };
  constexpr std::array<absl::string_view, 2> kBufferNames = {"input", "output"};
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (absl::Status s =
            CreateHostBuffer(selected.physical, device, kBufferNames[i], &buffers[i], &memories[i]);
        !s.ok()) {
      return s;
    }
  }

  absl::Status fill_input = WithMapped(device, memories[0], "input", [](float* values) {
    for (uint32_t i = 0; i < kElementCount; ++i) values[i] = InputValue(i);
    return absl::OkStatus();
  });
  if (!fill_input.ok()) return fill_input;
  // NaN never compares equal, so a dispatch that writes nothing cannot pass by accident.
  absl::Status fill_output = WithMapped(device, memories[1], "output", [](float* values) {
    for (uint32_t i = 0; i < kElementCount; ++i) {
      values[i] = std::numeric_limits<float>::quiet_NaN();
    }
    return absl::OkStatus();
  });
  if (!fill_output.ok()) return fill_output;

  std::array<VkDescriptorSetLayoutBinding, 2> bindings{};
  for (uint32_t i = 0; i < bindings.size(); ++i) {
    bindings[i].binding = i;
    bindings[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    bindings[i].descriptorCount = 1;
    bindings[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  VkDescriptorSetLayoutCreateInfo set_layout_info{};
  set_layout_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
  set_layout_info.bindingCount = static_cast<uint32_t>(bindings.size());
  set_layout_info.pBindings = bindings.data();
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
  if (VkResult r = vkCreateDescriptorSetLayout(device, &set_layout_info, nullptr, &set_layout);
      r != VK_SUCCESS) {
    return VkFailure("vkCreateDescriptorSetLayout", r);
  }
  absl::Cleanup destroy_set_layout = [device, set_layout] {
    vkDestroyDescriptorSetLayout(device, set_layout, nullptr);
  };

  VkDescriptorPoolSize pool_size{};
  pool_size.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
  pool_size.descriptorCount = static_cast<uint32_t>(bindings.size());
  VkDescriptorPoolCreateInfo pool_info{};
  pool_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
  pool_info.maxSets = 1;
  pool_info.poolSizeCount = 1;
  pool_info.pPoolSizes = &pool_size;
  VkDescriptorPool descriptor_pool = VK_NULL_HANDLE;
  if (VkResult r = vkCreateDescriptorPool(device, &pool_info, nullptr, &descriptor_pool);
      r != VK_SUCCESS) {
    return VkFailure("vkCreateDescriptorPool", r);
  }
  // Also frees the descriptor set allocated from it.
  absl::Cleanup destroy_descriptor_pool = [device, descriptor_pool] {
    vkDestroyDescriptorPool(device, descriptor_pool, nullptr);
  };

  VkDescriptorSetAllocateInfo set_info{};
  set_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
  set_info.descriptorPool = descriptor_pool;
  set_info.descriptorSetCount = 1;
  set_info.pSetLayouts = &set_layout;
  VkDescriptorSet descriptor_set = VK_NULL_HANDLE;
  if (VkResult r = vkAllocateDescriptorSets(device, &set_info, &descriptor_set); r != VK_SUCCESS) {
    return VkFailure("vkAllocateDescriptorSets", r);
  }
  std::array<VkDescriptorBufferInfo, 2> buffer_infos{};
  std::array<VkWriteDescriptorSet, 2> writes{};
  for (uint32_t i = 0; i < writes.size(); ++i) {
    buffer_infos[i].buffer = buffers[i];
    buffer_infos[i].offset = 0;
    buffer_infos[i].range = VK_WHOLE_SIZE;
    writes[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
    writes[i].dstSet = descriptor_set;
    writes[i].dstBinding = i;
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &buffer_infos[i];
  }
  vkUpdateDescriptorSets(device, static_cast<uint32_t>(writes.size()), writes.data(), 0, nullptr);

  VkPushConstantRange push_range{};
  push_range.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  push_range.offset = 0;
  push_range.size = sizeof(AffineParams);
  VkPipelineLayoutCreateInfo pipeline_layout_info{};
  pipeline_layout_info.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
  pipeline_layout_info.setLayoutCount = 1;
  pipeline_layout_info.pSetLayouts = &set_layout;
  pipeline_layout_info.pushConstantRangeCount = 1;
  pipeline_layout_info.pPushConstantRanges = &push_range;
  VkPipelineLayout pipeline_layout = VK_NULL_HANDLE;
  if (VkResult r = vkCreatePipelineLayout(device, &pipeline_layout_info, nullptr, &pipeline_layout);
      r != VK_SUCCESS) {
    return VkFailure("vkCreatePipelineLayout", r);
  }
  absl::Cleanup destroy_pipeline_layout = [device, pipeline_layout] {
    vkDestroyPipelineLayout(device, pipeline_layout, nullptr);
  };

  VkShaderModuleCreateInfo shader_info{};
  shader_info.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
  shader_info.codeSize = sizeof(kSpirv_affine);
  shader_info.pCode = kSpirv_affine;
  VkShaderModule shader = VK_NULL_HANDLE;
  if (VkResult r = vkCreateShaderModule(device, &shader_info, nullptr, &shader); r != VK_SUCCESS) {
    return VkFailure("vkCreateShaderModule (affine.comp)", r);
  }
  absl::Cleanup destroy_shader = [device, shader] {
    vkDestroyShaderModule(device, shader, nullptr);
  };

  VkComputePipelineCreateInfo pipeline_info{};
  pipeline_info.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
  pipeline_info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  pipeline_info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  pipeline_info.stage.module = shader;
  pipeline_info.stage.pName = "main";
  pipeline_info.layout = pipeline_layout;
  VkPipeline pipeline = VK_NULL_HANDLE;
  if (VkResult r =
          vkCreateComputePipelines(device, VK_NULL_HANDLE, 1, &pipeline_info, nullptr, &pipeline);
      r != VK_SUCCESS) {
    return VkFailure("vkCreateComputePipelines (affine.comp)", r);
  }
  absl::Cleanup destroy_pipeline = [device, pipeline] {
    vkDestroyPipeline(device, pipeline, nullptr);
  };

  VkCommandPoolCreateInfo command_pool_info{};
  command_pool_info.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
  command_pool_info.flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT;
  command_pool_info.queueFamilyIndex = selected.compute_queue_family;
  VkCommandPool command_pool = VK_NULL_HANDLE;
  if (VkResult r = vkCreateCommandPool(device, &command_pool_info, nullptr, &command_pool);
      r != VK_SUCCESS) {
    return VkFailure("vkCreateCommandPool", r);
  }
  // Also frees the command buffer allocated from it.
  absl::Cleanup destroy_command_pool = [device, command_pool] {
    vkDestroyCommandPool(device, command_pool, nullptr);
  };

  VkCommandBufferAllocateInfo command_buffer_info{};
  command_buffer_info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
  command_buffer_info.commandPool = command_pool;
  command_buffer_info.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  command_buffer_info.commandBufferCount = 1;
  VkCommandBuffer command_buffer = VK_NULL_HANDLE;
  if (VkResult r = vkAllocateCommandBuffers(device, &command_buffer_info, &command_buffer);
      r != VK_SUCCESS) {
    return VkFailure("vkAllocateCommandBuffers", r);
  }

  VkCommandBufferBeginInfo begin_info{};
  begin_info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  begin_info.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  if (VkResult r = vkBeginCommandBuffer(command_buffer, &begin_info); r != VK_SUCCESS) {
    return VkFailure("vkBeginCommandBuffer", r);
  }
  vkCmdBindPipeline(command_buffer, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
  vkCmdBindDescriptorSets(command_buffer, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_layout, 0, 1,
                          &descriptor_set, 0, nullptr);
  const AffineParams params = {kElementCount, kScale, kShift};
  vkCmdPushConstants(command_buffer, pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                     sizeof(params), &params);
  vkCmdDispatch(command_buffer, (kElementCount + kLocalSizeX - 1) / kLocalSizeX, 1, 1);
  // A fence wait alone does not make shader writes visible to the host; this barrier does.
  VkMemoryBarrier to_host{};
  to_host.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  to_host.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  to_host.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(command_buffer, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &to_host, 0, nullptr, 0, nullptr);
  if (VkResult r = vkEndCommandBuffer(command_buffer); r != VK_SUCCESS) {
    return VkFailure("vkEndCommandBuffer", r);
  }

  VkFenceCreateInfo fence_info{};
  fence_info.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
  VkFence fence = VK_NULL_HANDLE;
  if (VkResult r = vkCreateFence(device, &fence_info, nullptr, &fence); r != VK_SUCCESS) {
    return VkFailure("vkCreateFence", r);
  }
  absl::Cleanup destroy_fence = [device, fence] { vkDestroyFence(device, fence, nullptr); };

  VkSubmitInfo submit{};
  submit.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
  submit.commandBufferCount = 1;
  submit.pCommandBuffers = &command_buffer;
  if (VkResult r = vkQueueSubmit(queue, 1, &submit, fence); r != VK_SUCCESS) {
    return VkFailure("vkQueueSubmit", r);
  }
  // Declared last so it runs first: after a timeout the work may still be pending, and nothing
  // it uses may be destroyed until the device is idle. Its result is moot during teardown.
  absl::Cleanup wait_idle = [device] { vkDeviceWaitIdle(device); };
  if (VkResult r = vkWaitForFences(device, 1, &fence, VK_TRUE, kFenceTimeoutNs); r != VK_SUCCESS) {
    return VkFailure("vkWaitForFences (10 s timeout)", r);
  }

  return WithMapped(device, memories[1], "output", [](float* values) {
    uint32_t mismatches = 0;
    uint32_t first_bad = 0;
    for (uint32_t i = 0; i < kElementCount; ++i) {
      const float expected = InputValue(i) * kScale + kShift;
      if (values[i] != expected) {
        if (mismatches == 0) first_bad = i;
        ++mismatches;
      }
    }
    if (mismatches == 0) return absl::OkStatus();
    const float expected = InputValue(first_bad) * kScale + kShift;
    return absl::InternalError(absl::StrCat(
        "affine.comp produced ", mismatches, " wrong values out of ", kElementCount,
        "; first at index ", first_bad, ": got ", values[first_bad], ", want ", expected));
  });
}

}  // namespace

absl::Status RunSelfTest(int device_index) {
  absl::Status status = RunSelfTestImpl(device_index);
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("Vulkan self test on vulkan:", device_index, ": ",
                                                  status.message()));
}

}  // namespace trustformers::backends::vulkan
