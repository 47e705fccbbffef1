// The autograd graph itself: recording, no_grad scopes, accumulation on leaves, and errors
// (backward on a non-scalar or on a tensor nothing recorded) as Status.
#include "catch2/catch.hpp"
#include "models/nn/functional.h"
#include "models/nn/tensor.h"

namespace trustformers::nn {
namespace {

TEST_CASE("backward accumulates on leaves and zero_grad clears", "[nn]") {
  Tensor x = *Tensor::from_vec({1, 2, 3}, {3}, true);
  Tensor y = sum(*mul(x, x));  // sum x^2
  REQUIRE(y.grad_fn_name() == "sum");
  REQUIRE(y.backward().ok());
  CHECK(x.grad().to_vec() == std::vector<float>{2, 4, 6});
  REQUIRE(y.backward().ok());  // a second backward adds
  CHECK(x.grad().to_vec() == std::vector<float>{4, 8, 12});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("a tensor used twice gets both gradients", "[nn]") {
  Tensor x = *Tensor::from_vec({3}, {1}, true);
  Tensor y = *add(mul(x, 2.0f), *mul(x, x));  // 2x + x^2 -> 2 + 2x = 8
  REQUIRE(sum(y).backward().ok());
  CHECK(x.grad().to_vec() == std::vector<float>{8});
}

TEST_CASE("no_grad records nothing", "[nn]") {
  Tensor x = *Tensor::from_vec({1, 2}, {2}, true);
  {
    NoGradGuard guard;
    CHECK_FALSE(GradEnabled());
    Tensor y = sum(x);
    CHECK_FALSE(y.requires_grad());
    CHECK(y.backward().code() == absl::StatusCode::kFailedPrecondition);
  }
  CHECK(GradEnabled());
  CHECK(sum(x).requires_grad());
}

TEST_CASE("errors are statuses", "[nn]") {
  Tensor x = *Tensor::from_vec({1, 2}, {2}, true);
  CHECK(mul(x, 2.0f).backward().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Tensor::from_vec({1, 2, 3}, {2}).status().code() == absl::StatusCode::kInvalidArgument);
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4, 2});
  CHECK(matmul(a, b).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(add(a, Tensor::zeros({2})).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(index(a, {2}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(reshape(a, {4, -1}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(cross_entropy(a, {0, 3}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(sum(a).item().ok());
  CHECK_FALSE(a.item().ok());
  Generator gen(1);
  CHECK(dropout(a, 1.0f, true, gen).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(mul(x, 2.0f).set_requires_grad(false).code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("detach cuts the graph", "[nn]") {
  Tensor x = *Tensor::from_vec({2}, {1}, true);
  Tensor y = mul(x, 3.0f).detach();
  CHECK_FALSE(y.requires_grad());
  CHECK(y.to_vec() == std::vector<float>{6});
}

}  // namespace
}  // namespace trustformers::nn
