#include "backends/device.h"

#include <algorithm>

#include "catch2/catch.hpp"

namespace trustformers::backends {
namespace {

TEST_CASE("devices: the CPU is always first and described", "[backends]") {
  const std::vector<DeviceInfo> devices = ListDevices();
  REQUIRE_FALSE(devices.empty());
  CHECK(devices[0].name == "cpu");
  CHECK(devices[0].kind == DeviceKind::kCpu);
  CHECK(devices[0].memory_bytes > 0);
  CHECK(devices[0].compute_units > 0);
  CHECK_FALSE(devices[0].description.empty());
}

TEST_CASE("devices: compiled backends follow the build options", "[backends]") {
  const std::vector<std::string> compiled = CompiledBackends();
  CHECK(compiled.front() == "cpu");
  auto has = [&](const char* name) {
    return std::find(compiled.begin(), compiled.end(), name) != compiled.end();
  };
#ifdef TF_HAVE_CUDA
  CHECK(has("cuda"));
#else
  CHECK_FALSE(has("cuda"));
#endif
#ifdef TF_HAVE_VULKAN
  CHECK(has("vulkan"));
#else
  CHECK_FALSE(has("vulkan"));
#endif
}

#ifdef TF_HAVE_VULKAN
TEST_CASE("devices: Vulkan sees a compute device (lavapipe on machines without a GPU)",
          "[backends][vulkan]") {
  const std::vector<DeviceInfo> devices = ListDevices();
  const auto vulkan = std::find_if(devices.begin(), devices.end(), [](const DeviceInfo& d) {
    return d.kind == DeviceKind::kVulkan;
  });
  REQUIRE(vulkan != devices.end());
  CHECK(vulkan->name == "vulkan:0");
  CHECK(vulkan->description.find("Vulkan 1.") != std::string::npos);
}
#endif

TEST_CASE("devices: FindDevice names what exists when a device is missing", "[backends]") {
  CHECK(FindDevice("cpu").ok());
  absl::StatusOr<DeviceInfo> missing = FindDevice("cuda:42");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  CHECK(missing.status().message().find("this machine has cpu") != std::string::npos);
}

}  // namespace
}  // namespace trustformers::backends
