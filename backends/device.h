// The devices this binary can run models on. Each compiled backend (cpu always, cuda and vulkan
// when built with TF_CUDA / TF_VULKAN) contributes the devices its driver reports; a backend whose
// driver or hardware is missing contributes none and never fails the process.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trustformers::backends {

enum class DeviceKind { kCpu, kCuda, kVulkan };

struct DeviceInfo {
  // Name used in configuration and requests: "cpu", "cuda:0", "vulkan:1".
  std::string name;
  DeviceKind kind = DeviceKind::kCpu;
  // Human-readable model of the processor or GPU.
  std::string description;
  // Memory the device can use, in bytes (system RAM for the CPU).
  int64_t memory_bytes = 0;
  // Hardware threads (CPU) or streaming multiprocessors (CUDA); 0 when unknown.
  int compute_units = 0;
};

// Backends compiled into this binary, e.g. {"cpu", "cuda", "vulkan"}.
std::vector<std::string> CompiledBackends();

// Every device present, CPU first, then CUDA and Vulkan devices in driver order.
std::vector<DeviceInfo> ListDevices();

// NOT_FOUND naming the available devices when `name` is not among them.
absl::StatusOr<DeviceInfo> FindDevice(absl::string_view name);

}  // namespace trustformers::backends
