#include "backends/vulkan/vulkan_self_test.h"

#include "catch2/catch.hpp"

namespace trustformers::backends::vulkan {
namespace {

TEST_CASE("vulkan: the affine shader runs and computes the right values", "[backends][vulkan]") {
  const absl::Status status = RunSelfTest(0);
  INFO(status.ToString());
  CHECK(status.ok());
}

TEST_CASE("vulkan: a device index out of range is NOT_FOUND", "[backends][vulkan]") {
  const absl::Status status = RunSelfTest(99);
  CHECK(status.code() == absl::StatusCode::kNotFound);
  CHECK(status.message().find("no device with index 99") != std::string::npos);
}

}  // namespace
}  // namespace trustformers::backends::vulkan
