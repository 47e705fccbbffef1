#include "backends/cuda/cuda_self_test.h"

#include <algorithm>

#include "backends/device.h"
#include "catch2/catch.hpp"

namespace trustformers::backends::cuda {
namespace {

bool HasCudaDevice() {
  const std::vector<DeviceInfo> devices = ListDevices();
  return std::any_of(devices.begin(), devices.end(),
                     [](const DeviceInfo& d) { return d.kind == DeviceKind::kCuda; });
}

// Runs everywhere: on a GPU machine the kernel must compute the right values; without a GPU the
// same call must fail cleanly with a message instead of crashing.
TEST_CASE("cuda: kernel round trip, or a clean error without a GPU", "[backends][cuda]") {
  const absl::Status status = RunSelfTest(0);
  INFO(status.ToString());
  if (HasCudaDevice()) {
    CHECK(status.ok());
  } else {
    CHECK(status.code() == absl::StatusCode::kFailedPrecondition);
    CHECK(status.message().find("CUDA") != std::string::npos);
  }
}

}  // namespace
}  // namespace trustformers::backends::cuda
