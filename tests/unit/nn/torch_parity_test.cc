// The training core against PyTorch: every op's output and input gradients, and 50 optimizer
// steps with schedules and clipping, on the inputs tests/golden/nn/make_fixtures.py recorded.
// Gradients must agree to a relative error of 1e-4 (max |ours - torch| over max |torch|),
// parameters after optimizer steps to 1e-6 (the same measure).
#include <cmath>
#include <fstream>
#include <functional>
#include <map>

#include "catch2/catch.hpp"
#include "models/nn/functional.h"
#include "models/nn/lr_schedule.h"
#include "models/nn/optim.h"
#include "nlohmann/json.hpp"

namespace trustformers::nn {
namespace {

using json = nlohmann::json;

json ReadFixture(const std::string& name) {
  std::ifstream in(std::string(TF_SOURCE_DIR) + "/tests/golden/nn/" + name);
  REQUIRE(in.good());
  return json::parse(in);
}

Tensor FromJson(const json& j, bool requires_grad) {
  absl::StatusOr<Tensor> t = Tensor::from_vec(j["values"].get<std::vector<float>>(),
                                              j["shape"].get<Shape>(), requires_grad);
  REQUIRE(t.ok());
  return *t;
}

double RelativeError(const std::vector<float>& ours, const std::vector<float>& theirs) {
  REQUIRE(ours.size() == theirs.size());
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < ours.size(); ++i) {
    diff = std::max(diff, std::abs(double{ours[i]} - theirs[i]));
    scale = std::max(scale, std::abs(double{theirs[i]}));
  }
  return diff / scale;
}

using Op = std::function<absl::StatusOr<Tensor>(const std::vector<Tensor>&, const json&)>;

const std::map<std::string, Op>& Ops() {
  static const auto* ops = new std::map<std::string, Op>{
      {"add", [](const auto& in, const json&) { return add(in[0], in[1]); }},
      {"sub", [](const auto& in, const json&) { return sub(in[0], in[1]); }},
      {"mul", [](const auto& in, const json&) { return mul(in[0], in[1]); }},
      {"broadcast_to",
       [](const auto& in, const json& a) { return broadcast_to(in[0], a["shape"].get<Shape>()); }},
      {"affine",
       [](const auto& in, const json&) -> absl::StatusOr<Tensor> {
         return affine(in[0], -1.5f, 0.25f);
       }},
      {"reshape",
       [](const auto& in, const json& a) { return reshape(in[0], a["shape"].get<Shape>()); }},
      {"transpose",
       [](const auto& in, const json& a) {
         return transpose(in[0], a["dims"][0].get<int>(), a["dims"][1].get<int>());
       }},
      {"index", [](const auto& in,
                   const json& a) { return index(in[0], a["ids"].get<std::vector<int64_t>>()); }},
      {"stack",
       [](const auto& in, const json&) {
         return stack({in[0], in[1], in[0]});
       }},
      {"matmul", [](const auto& in, const json&) { return matmul(in[0], in[1]); }},
      {"linear", [](const auto& in, const json&) { return linear(in[0], in[1], in[2]); }},
      {"relu", [](const auto& in, const json&) { return relu(in[0]); }},
      {"gelu", [](const auto& in, const json&) { return gelu(in[0]); }},
      {"softmax", [](const auto& in, const json&) { return softmax(in[0]); }},
      {"log_softmax", [](const auto& in, const json&) { return log_softmax(in[0]); }},
      {"layer_norm",
       [](const auto& in, const json& a) {
         return layer_norm(in[0], in[1], in[2], a["eps"].get<float>());
       }},
      {"attention",
       [](const auto& in, const json& a) -> absl::StatusOr<Tensor> {
         absl::StatusOr<Tensor> mask =
             padding_mask(a["keep"].get<std::vector<std::vector<bool>>>());
         if (!mask.ok()) return mask.status();
         return attention(in[0], in[1], in[2], *mask, a["scale"].get<float>());
       }},
      {"sum", [](const auto& in, const json&) -> absl::StatusOr<Tensor> { return sum(in[0]); }},
      {"mean", [](const auto& in, const json&) -> absl::StatusOr<Tensor> { return mean(in[0]); }},
      {"cross_entropy",
       [](const auto& in, const json& a) {
         backends::training::CrossEntropyOptions options;
         options.ignore_index = a["ignore_index"].get<int64_t>();
         options.label_smoothing = a["label_smoothing"].get<float>();
         return cross_entropy(in[0], a["targets"].get<std::vector<int64_t>>(), options);
       }},
      {"mse_loss", [](const auto& in, const json&) { return mse_loss(in[0], in[1]); }},
      {"mlp",
       [](const auto& in, const json& a) -> absl::StatusOr<Tensor> {
         absl::StatusOr<Tensor> h = linear(in[0], in[1], in[2]);  // [4, 8]
         if (h.ok()) h = gelu(*h);
         if (h.ok()) h = layer_norm(*h, in[3], in[4], 1e-5f);
         if (h.ok()) h = linear(*h, in[5], in[6]);  // [4, 3]
         if (!h.ok()) return h.status();
         return cross_entropy(*h, a["targets"].get<std::vector<int64_t>>());
       }},
  };
  return *ops;
}

TEST_CASE("every op's output and gradients match PyTorch autograd", "[nn]") {
  const json fixture = ReadFixture("grads.json");
  REQUIRE(fixture["cases"].size() >= 25);
  for (size_t c = 0; c < fixture["cases"].size(); ++c) {
    const json& item = fixture["cases"][c];
    const std::string op = item["op"];
    INFO("case " << c << ": " << op);
    REQUIRE(Ops().count(op) == 1);
    std::vector<Tensor> inputs;
    for (const json& in : item["inputs"]) inputs.push_back(FromJson(in, in["requires_grad"]));
    absl::StatusOr<Tensor> out = Ops().at(op)(inputs, item["args"]);
    REQUIRE(out.ok());
    REQUIRE(out->shape() == item["output"]["shape"].get<Shape>());
    CHECK(RelativeError(out->to_vec(), item["output"]["values"]) <= 1e-5);
    Tensor loss = *out;
    if (!item["upstream"].is_null()) {
      const Tensor upstream =
          *Tensor::from_vec(item["upstream"].get<std::vector<float>>(), out->shape());
      loss = sum(*mul(*out, upstream));
    }
    REQUIRE(loss.backward().ok());
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (item["grads"][i].is_null()) continue;
      INFO("gradient of input " << i);
      REQUIRE(inputs[i].grad().defined());
      CHECK(RelativeError(inputs[i].grad().to_vec(), item["grads"][i]) <= 1e-4);
    }
  }
}

LrScheduleKind Kind(const std::string& name) {
  if (name == "linear") return LrScheduleKind::kLinear;
  if (name == "cosine") return LrScheduleKind::kCosine;
  return LrScheduleKind::kConstant;
}

std::unique_ptr<Optimizer> MakeOptimizer(const std::string& name, const Tensor& w,
                                         const Tensor& b) {
  if (name == "sgd") return std::make_unique<SGD>(std::vector<Tensor>{w, b}, SgdOptions{.lr = 0.1});
  if (name == "sgd_momentum") {
    return std::make_unique<SGD>(
        std::vector<Tensor>{w, b},
        SgdOptions{.lr = 0.05, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01});
  }
  if (name == "sgd_nesterov") {
    return std::make_unique<SGD>(
        std::vector<Tensor>{w, b},
        SgdOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
  }
  if (name == "adam") {
    return std::make_unique<Adam>(
        std::vector<Tensor>{w, b},
        AdamOptions{.lr = 0.02, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1});
  }
  REQUIRE(name == "adamw");
  std::vector<ParamGroup> groups{{{w}, {}, {}}, {{b}, 0.0, {}}};
  return std::make_unique<AdamW>(std::move(groups), AdamOptions{.lr = 0.03, .weight_decay = 0.05});
}

TEST_CASE("50 optimizer steps with schedules and clipping match torch.optim", "[nn]") {
  const json fixture = ReadFixture("optim.json");
  REQUIRE(fixture["cases"].size() == 5);
  for (const json& item : fixture["cases"]) {
    const std::string name = item["name"];
    INFO(name);
    Tensor w = *Tensor::from_vec(item["init"]["w"].get<std::vector<float>>(), {4, 3}, true);
    Tensor b = *Tensor::from_vec(item["init"]["b"].get<std::vector<float>>(), {4}, true);
    const Tensor x = *Tensor::from_vec(item["x"].get<std::vector<float>>(), {8, 3});
    const Tensor y = *Tensor::from_vec(item["y"].get<std::vector<float>>(), {8, 4});
    std::unique_ptr<Optimizer> optimizer = MakeOptimizer(name, w, b);
    absl::StatusOr<LrScheduler> scheduler =
        LrScheduler::Create(optimizer.get(), {.kind = Kind(item["schedule"]),
                                              .warmup_steps = item["warmup"].get<int64_t>(),
                                              .total_steps = item["steps"].get<int64_t>()});
    REQUIRE(scheduler.ok());
    size_t snapshot = 0;
    for (int step = 1; step <= item["steps"].get<int>(); ++step) {
      optimizer->zero_grad();
      Tensor loss = *mse_loss(*linear(x, w, b), y);
      REQUIRE(loss.backward().ok());
      REQUIRE(clip_grad_norm({w, b}, item["max_norm"].get<double>()).ok());
      REQUIRE(optimizer->step().ok());
      scheduler->step();
      if (step % 10 == 0) {
        const json& expected = item["snapshots"][snapshot++];
        INFO("step " << step);
        CHECK(RelativeError(w.to_vec(), expected["w"]) <= 1e-6);
        CHECK(RelativeError(b.to_vec(), expected["b"]) <= 1e-6);
      }
    }
    CHECK(snapshot == item["snapshots"].size());
  }
}

}  // namespace
}  // namespace trustformers::nn
