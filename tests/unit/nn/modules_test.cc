// Layers, losses, optimizers and schedules: parameter lists and names, modes, initialisation,
// schedule values and the errors each reports as a Status.
#include "models/nn/modules.h"

#include <cmath>
#include <memory>

#include "catch2/catch.hpp"
#include "models/nn/loss.h"
#include "models/nn/lr_schedule.h"
#include "models/nn/optim.h"

namespace trustformers::nn {
namespace {

TEST_CASE("Sequential names and lists its layers' parameters", "[nn]") {
  Generator gen(1);
  Sequential model({std::make_shared<Linear>(3, 4, gen), std::make_shared<GELU>(),
                    std::make_shared<LayerNorm>(4), std::make_shared<Linear>(4, 2, gen, false)});
  const auto named = model.named_parameters();
  REQUIRE(named.size() == 5);
  CHECK(named[0].first == "0.weight");
  CHECK(named[1].first == "0.bias");
  CHECK(named[2].first == "2.weight");
  CHECK(named[4].first == "3.weight");
  CHECK(model.parameters()[0].shape() == Shape{4, 3});
  for (const Tensor& p : model.parameters()) CHECK(p.requires_grad());
  const absl::StatusOr<Tensor> y = model.forward(Tensor::ones({5, 3}));
  REQUIRE(y.ok());
  CHECK(y->shape() == Shape{5, 2});
  const absl::StatusOr<Tensor> bad = model.forward(Tensor::ones({5, 7}));
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(bad.status().message().find("Sequential[0]") != std::string::npos);
}

TEST_CASE("Linear initialises within PyTorch's bound; Embedding looks rows up", "[nn]") {
  Generator gen(2);
  Linear linear_layer(16, 8, gen);
  for (float w : linear_layer.weight.to_vec()) CHECK(std::abs(w) <= 0.25f);
  Embedding embedding(10, 4, gen);
  const absl::StatusOr<Tensor> rows = embedding.forward({1, 9, 1, 0}, {2, 2});
  REQUIRE(rows.ok());
  CHECK(rows->shape() == Shape{2, 2, 4});
  const std::vector<float> table = embedding.weight.to_vec();
  CHECK(rows->to_vec()[4] == table[36]);  // second id is 9
  REQUIRE(sum(*rows).backward().ok());
  CHECK(embedding.weight.grad().to_vec()[4] == 2.0f);  // id 1 used twice
  CHECK(embedding.forward({10}, {1}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(embedding.forward(*Tensor::from_vec({1.5f}, {1})).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Dropout is seeded in training and the identity in eval", "[nn]") {
  Dropout a(0.5f, 7), b(0.5f, 7);
  const Tensor x = Tensor::ones({1000});
  const std::vector<float> ya = a.forward(x)->to_vec();
  CHECK(ya == b.forward(x)->to_vec());
  int zeros = 0;
  for (float v : ya) {
    CHECK((v == 0.0f || v == 2.0f));
    zeros += v == 0.0f;
  }
  CHECK(zeros > 400);
  CHECK(zeros < 600);
  a.eval();
  CHECK(a.forward(x)->to_vec() == x.to_vec());
}

TEST_CASE("losses check their inputs", "[nn]") {
  const Tensor logits = Tensor::zeros({2, 3});
  CHECK(*CrossEntropyLoss().forward(logits, {0, 2})->item() == Approx(std::log(3.0f)));
  CHECK(*CrossEntropyLoss(-1).forward(logits, {-1, -1})->item() == 0.0f);
  CHECK(CrossEntropyLoss().forward(logits, {0}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(CrossEntropyLoss(-100, 1.5f).forward(logits, {0, 1}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(MSELoss().forward(logits, Tensor::zeros({3, 2})).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("schedules follow Hugging Face's shapes", "[nn]") {
  LrScheduleOptions linear_options{
      .kind = LrScheduleKind::kLinear, .warmup_steps = 10, .total_steps = 110};
  CHECK(LrFactor(linear_options, 0) == 0.0);
  CHECK(LrFactor(linear_options, 5) == 0.5);
  CHECK(LrFactor(linear_options, 10) == 1.0);
  CHECK(LrFactor(linear_options, 60) == 0.5);
  CHECK(LrFactor(linear_options, 200) == 0.0);
  LrScheduleOptions cosine{.kind = LrScheduleKind::kCosine, .warmup_steps = 0, .total_steps = 100};
  CHECK(LrFactor(cosine, 50) == Approx(0.5));
  CHECK(LrFactor(cosine, 100) == Approx(0.0).margin(1e-12));

  Tensor w = Tensor::ones({2}, true);
  SGD sgd({w}, {.lr = 0.1});
  absl::StatusOr<LrScheduler> scheduler = LrScheduler::Create(&sgd, linear_options);
  REQUIRE(scheduler.ok());
  CHECK(sgd.lr() == 0.0);
  for (int i = 0; i < 5; ++i) scheduler->step();
  CHECK(sgd.lr() == Approx(0.05));
  CHECK(LrScheduler::Create(&sgd, {.kind = LrScheduleKind::kCosine}).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("optimizers skip parameters without gradients and reject bad options", "[nn]") {
  Tensor w = Tensor::ones({2}, true);
  Adam adam({w}, {});
  REQUIRE(adam.step().ok());
  CHECK(w.to_vec() == std::vector<float>{1, 1});
  SGD nesterov({w}, {.lr = 0.1, .nesterov = true});
  CHECK(nesterov.step().code() == absl::StatusCode::kInvalidArgument);
  Adam bad({w}, {.beta1 = 1.0});
  CHECK(bad.step().code() == absl::StatusCode::kInvalidArgument);
  CHECK(clip_grad_norm({w}, -1.0).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("clip_grad_norm scales all gradients by one global factor", "[nn]") {
  Tensor a = *Tensor::from_vec({3}, {1}, true);
  Tensor b = *Tensor::from_vec({4}, {1}, true);
  REQUIRE(sum(*add(mul(a, 3.0f), mul(b, 4.0f))).backward().ok());  // grads 3 and 4: norm 5
  const absl::StatusOr<float> norm = clip_grad_norm({a, b}, 1.0);
  REQUIRE(norm.ok());
  CHECK(*norm == Approx(5.0f));
  CHECK(a.grad().to_vec()[0] == Approx(0.6f));
  CHECK(b.grad().to_vec()[0] == Approx(0.8f));
}

}  // namespace
}  // namespace trustformers::nn
