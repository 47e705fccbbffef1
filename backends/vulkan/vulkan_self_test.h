// End-to-end check of one Vulkan device: runs the affine compute shader on a small buffer and
// compares the result on the host. Tells "the driver lists this device" apart from "this device
// can actually run our SPIR-V", which is what a user needs to know before choosing `vulkan:N`.
#pragma once

#include "absl/status/status.h"

namespace trustformers::backends::vulkan {

// Runs the affine compute shader on the Vulkan device with index `device_index` (in the order of
// backends/vulkan/vulkan_probe.cc: physical devices with apiVersion >= 1.2 and a compute queue)
// and checks out[i] == in[i]*2+1 for 1000 elements.
// Returns NOT_FOUND when `device_index` names no such device, FAILED_PRECONDITION when the driver
// or device lacks something the test needs, INTERNAL when a Vulkan call fails, the fence times out
// (10 s) or the output is wrong. Blocks the calling thread; creates and destroys its own instance.
absl::Status RunSelfTest(int device_index);

}  // namespace trustformers::backends::vulkan
