// Finite-difference gradient checks for every differentiable op: the autograd gradient of
// sum(op(inputs) * R), R fixed random weights, against central differences of the same float
// function. Cheap and fixture-free; tests/unit/nn/torch_parity_test.cc holds the tight checks.
#include <cmath>
#include <functional>

#include "catch2/catch.hpp"
#include "models/nn/functional.h"

namespace trustformers::nn {
namespace {

using Fn = std::function<absl::StatusOr<Tensor>(const std::vector<Tensor>&)>;

// Loss = sum(f(inputs) * R).
float Loss(const Fn& f, const std::vector<Tensor>& inputs, const Tensor& weights) {
  absl::StatusOr<Tensor> y = f(inputs);
  REQUIRE(y.ok());
  absl::StatusOr<Tensor> weighted = mul(*y, weights);
  REQUIRE(weighted.ok());
  return *sum(*weighted).item();
}

void CheckGradients(const Fn& f, std::vector<Tensor> inputs, uint64_t seed = 7) {
  Generator gen(seed);
  absl::StatusOr<Tensor> y = f(inputs);
  REQUIRE(y.ok());
  const Tensor weights = Tensor::randn(y->shape(), gen);
  Tensor loss = sum(*mul(*y, weights));
  REQUIRE(loss.backward().ok());
  constexpr float kStep = 1e-2f;
  NoGradGuard no_grad;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad()) continue;
    const Tensor grad = inputs[i].grad();
    REQUIRE(grad.defined());
    float* x = inputs[i].mutable_data();
    for (int64_t j = 0; j < inputs[i].numel(); ++j) {
      const float saved = x[j];
      x[j] = saved + kStep;
      const double up = Loss(f, inputs, weights);
      x[j] = saved - kStep;
      const double down = Loss(f, inputs, weights);
      x[j] = saved;
      const double numeric = (up - down) / (2.0 * kStep);
      const double analytic = grad.data()[j];
      INFO("input " << i << " element " << j);
      CHECK(std::abs(numeric - analytic) <= 5e-3 * std::max(1.0, std::abs(analytic)));
    }
  }
}

Tensor Param(Shape shape, uint64_t seed, float scale = 1.0f) {
  Generator gen(seed);
  return Tensor::randn(std::move(shape), gen, scale, true);
}

TEST_CASE("gradcheck: element-wise ops with broadcasting", "[nn]") {
  CheckGradients([](const auto& in) { return add(in[0], in[1]); },
                 {Param({2, 3, 4}, 1), Param({3, 1}, 2)});
  CheckGradients([](const auto& in) { return sub(in[0], in[1]); },
                 {Param({4}, 3), Param({2, 4}, 4)});
  CheckGradients([](const auto& in) { return mul(in[0], in[1]); },
                 {Param({2, 1, 4}, 5), Param({3, 4}, 6)});
  CheckGradients(
      [](const auto& in) -> absl::StatusOr<Tensor> { return affine(in[0], -1.5f, 0.25f); },
      {Param({5}, 7)});
  CheckGradients([](const auto& in) { return broadcast_to(in[0], {2, 3, 4}); }, {Param({3, 1}, 8)});
}

TEST_CASE("gradcheck: shapes, index and stack", "[nn]") {
  CheckGradients([](const auto& in) { return reshape(in[0], {3, -1}); }, {Param({2, 6}, 9)});
  CheckGradients([](const auto& in) { return transpose(in[0], 0, 2); }, {Param({2, 3, 4}, 10)});
  CheckGradients([](const auto& in) { return index(in[0], {3, 0, 3, 1}); }, {Param({5, 2, 3}, 11)});
  CheckGradients(
      [](const auto& in) {
        return scatter_rows(in[0], {4, 0, 2}, 6);
      },
      {Param({3, 2, 2}, 33)});
  CheckGradients(
      [](const auto& in) {
        return stack({in[0], in[1], in[0]});
      },
      {Param({2, 3}, 12), Param({2, 3}, 13)});
}

TEST_CASE("gradcheck: matmul and linear", "[nn]") {
  CheckGradients([](const auto& in) { return matmul(in[0], in[1]); },
                 {Param({3, 4}, 14), Param({4, 5}, 15)});
  CheckGradients([](const auto& in) { return matmul(in[0], in[1]); },
                 {Param({2, 3, 4}, 16), Param({2, 4, 2}, 17)});
  CheckGradients([](const auto& in) { return matmul(in[0], in[1]); },
                 {Param({2, 3, 4}, 18), Param({4, 2}, 19)});
  CheckGradients([](const auto& in) { return linear(in[0], in[1], in[2]); },
                 {Param({2, 3, 4}, 20), Param({5, 4}, 21), Param({5}, 22)});
  CheckGradients([](const auto& in) { return linear(in[0], in[1], Tensor()); },
                 {Param({3, 4}, 23), Param({2, 4}, 24)});
}

TEST_CASE("gradcheck: activations, norms and softmax", "[nn]") {
  CheckGradients([](const auto& in) { return relu(in[0]); }, {Param({3, 7}, 25)});
  CheckGradients([](const auto& in) { return gelu(in[0]); }, {Param({3, 7}, 26, 2.0f)});
  CheckGradients([](const auto& in) { return trustformers::nn::tanh(in[0]); },
                 {Param({3, 7}, 32, 2.0f)});
  CheckGradients([](const auto& in) { return softmax(in[0]); }, {Param({2, 3, 5}, 27)});
  CheckGradients([](const auto& in) { return log_softmax(in[0]); }, {Param({4, 6}, 28)});
  CheckGradients([](const auto& in) { return layer_norm(in[0], in[1], in[2], 1e-5f); },
                 {Param({2, 3, 8}, 29), Param({8}, 30), Param({8}, 31)});
}

TEST_CASE("gradcheck: dropout applies the same mask forward and backward", "[nn]") {
  // The mask is drawn per call, so the check runs a fixed mask: a fresh generator each call.
  CheckGradients(
      [](const auto& in) {
        Generator gen(99);
        return dropout(in[0], 0.3f, true, gen);
      },
      {Param({4, 5}, 32)});
}

TEST_CASE("gradcheck: masked attention, reductions and losses", "[nn]") {
  const Tensor mask = *padding_mask({{true, true, false}, {true, true, true}});  // [2, 1, 1, 3]
  CheckGradients(
      [mask](const auto& in) -> absl::StatusOr<Tensor> {
        return attention(in[0], in[1], in[2], mask, 0.5f);
      },
      {Param({2, 1, 3, 4}, 33), Param({2, 1, 3, 4}, 34), Param({2, 1, 3, 4}, 35)});
  CheckGradients([](const auto& in) -> absl::StatusOr<Tensor> { return mean(in[0]); },
                 {Param({3, 4}, 36)});
  backends::training::CrossEntropyOptions options;
  options.label_smoothing = 0.1f;
  options.ignore_index = -1;
  CheckGradients(
      [options](const auto& in) {
        return cross_entropy(in[0], {2, -1, 0, 4}, options);
      },
      {Param({4, 5}, 37)});
  CheckGradients([](const auto& in) { return mse_loss(in[0], in[1]); },
                 {Param({3, 4}, 38), Param({3, 4}, 39)});
}

TEST_CASE("attention mask blocks padded keys", "[nn]") {
  Generator gen(3);
  const Tensor q = Tensor::randn({1, 1, 2, 4}, gen), k = Tensor::randn({1, 1, 3, 4}, gen);
  Tensor v = Tensor::randn({1, 1, 3, 4}, gen);
  const Tensor mask = *padding_mask({{true, true, false}});
  const Tensor a = *attention(q, k, v, mask, 0.5f);
  v.mutable_data()[8] += 100.0f;  // the padded key's value
  const Tensor b = *attention(q, k, v, mask, 0.5f);
  CHECK(a.to_vec() == b.to_vec());
}

}  // namespace
}  // namespace trustformers::nn
