// Learning-rate schedules in Hugging Face's shapes (transformers' get_*_schedule_with_warmup),
// applied like torch's LambdaLR: each group's lr is its initial lr times factor(step), set at
// construction for step 0 and again after every step().
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "models/nn/optim.h"

namespace trustformers::nn {

enum class LrScheduleKind {
  kConstant,            // 1
  kConstantWithWarmup,  // linear 0 -> 1 over the warmup, then 1
  kLinear,              // warmup, then linear 1 -> 0 at total_steps
  kCosine,              // warmup, then half a cosine 1 -> 0 at total_steps (num_cycles 0.5)
};

struct LrScheduleOptions {
  LrScheduleKind kind = LrScheduleKind::kConstant;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;  // needed by kLinear and kCosine
  double num_cycles = 0.5;  // kCosine
};

// The multiplier at `step`.
double LrFactor(const LrScheduleOptions& options, int64_t step);

class LrScheduler {
 public:
  // INVALID_ARGUMENT for negative warmup, or total_steps < 1 for the decaying kinds.
  static absl::StatusOr<LrScheduler> Create(Optimizer* optimizer, const LrScheduleOptions& options);
  // Advances one step and sets the optimizer's learning rates.
  void step();
  int64_t last_step() const { return step_; }
  // Jumps to `step` (resuming a run) and sets the optimizer's learning rates for it.
  void set_last_step(int64_t step) {
    step_ = step;
    Apply();
  }

 private:
  LrScheduler(Optimizer* optimizer, const LrScheduleOptions& options);
  void Apply();

  Optimizer* optimizer_;
  LrScheduleOptions options_;
  std::vector<double> base_lrs_;
  int64_t step_ = 0;
};

}  // namespace trustformers::nn
