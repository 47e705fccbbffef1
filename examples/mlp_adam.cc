// A two-layer MLP trained with Adam, written with the training core the way the PyTorch snippet
// it mirrors is written: Sequential(Linear, ReLU, Linear), CrossEntropyLoss, Adam, a training
// loop of zero_grad / forward / backward / step.
//
// The task: label 2-D points by the quadrant pair they fall in (XOR of the coordinates' signs),
// which no linear model can learn. Prints the loss every 50 steps and the final accuracy; exits
// 1 when the final loss is not below --max-final-loss (CTest runs it so).
//
//   mlp_adam [--steps N] [--max-final-loss X]
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "models/nn/loss.h"
#include "models/nn/modules.h"
#include "models/nn/optim.h"
#include "models/nn/state_dict.h"

namespace nn = trustformers::nn;

int main(int argc, char** argv) {
  int steps = 300;
  double max_final_loss = 0.1;
  std::string save_path;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--steps") {
      steps = std::atoi(argv[i + 1]);
    } else if (flag == "--max-final-loss") {
      max_final_loss = std::atof(argv[i + 1]);
    } else if (flag == "--save") {
      save_path = argv[i + 1];
    } else {
      std::fprintf(stderr, "usage: mlp_adam [--steps N] [--max-final-loss X] [--save FILE]\n");
      return 2;
    }
  }

  // Data: 256 points in [-1, 1)^2, label 1 when x * y > 0.
  nn::Generator data_gen(1);
  const int64_t n = 256;
  const nn::Tensor x = nn::Tensor::rand_uniform({n, 2}, data_gen, -1.0f, 1.0f);  // [N, 2]
  std::vector<int64_t> labels(static_cast<size_t>(n));                           // [N]
  for (int64_t i = 0; i < n; ++i)
    labels[static_cast<size_t>(i)] = x.data()[2 * i] * x.data()[2 * i + 1] > 0;

  nn::Generator init(42);
  nn::Sequential model({std::make_shared<nn::Linear>(2, 32, init), std::make_shared<nn::ReLU>(),
                        std::make_shared<nn::Linear>(32, 2, init)});
  nn::CrossEntropyLoss criterion;
  nn::Adam optimizer(model.parameters(), {.lr = 1e-2});

  float loss_value = 0;
  for (int step = 1; step <= steps; ++step) {
    optimizer.zero_grad();
    absl::StatusOr<nn::Tensor> logits = model.forward(x);  // [N, 2]
    if (!logits.ok()) return std::fprintf(stderr, "%s\n", logits.status().ToString().c_str()), 1;
    absl::StatusOr<nn::Tensor> loss = criterion.forward(*logits, labels);  // []
    if (!loss.ok()) return std::fprintf(stderr, "%s\n", loss.status().ToString().c_str()), 1;
    if (absl::Status s = loss->backward(); !s.ok()) {
      return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
    }
    if (absl::Status s = optimizer.step(); !s.ok()) {
      return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
    }
    loss_value = loss->item().value_or(0);
    if (step % 50 == 0) std::printf("step %4d  loss %.4f\n", step, loss_value);
  }

  nn::NoGradGuard no_grad;
  model.eval();
  const std::vector<float> logits = model.forward(x)->to_vec();  // [N, 2]
  int correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    correct += (logits[2 * i + 1] > logits[2 * i]) == (labels[static_cast<size_t>(i)] == 1);
  }
  std::printf("final loss %.4f, accuracy %.3f\n", loss_value, correct / static_cast<double>(n));
  if (!save_path.empty()) {
    // Names as named_parameters gives them ("0.weight", ...): torch's Sequential loads the file.
    if (absl::Status s = nn::save_state_dict(model, save_path); !s.ok()) {
      return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
    }
    std::printf("saved %s\n", save_path.c_str());
  }
  if (!(loss_value < max_final_loss)) {
    std::fprintf(stderr, "final loss %.4f is not below %.4f\n", loss_value, max_final_loss);
    return 1;
  }
  return 0;
}
