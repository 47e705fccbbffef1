#include "models/nn/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"

namespace trustformers::nn {

double LrFactor(const LrScheduleOptions& o, int64_t step) {
  if (o.kind == LrScheduleKind::kConstant) return 1.0;
  const auto d = [](int64_t v) { return static_cast<double>(v); };
  if (step < o.warmup_steps) return d(step) / d(std::max<int64_t>(1, o.warmup_steps));
  if (o.kind == LrScheduleKind::kConstantWithWarmup) return 1.0;
  const double rest = d(std::max<int64_t>(1, o.total_steps - o.warmup_steps));
  if (o.kind == LrScheduleKind::kLinear) {
    return std::max(0.0, d(o.total_steps - step) / rest);
  }
  const double progress = d(step - o.warmup_steps) / rest;
  return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * o.num_cycles * 2.0 * progress)));
}

absl::StatusOr<LrScheduler> LrScheduler::Create(Optimizer* optimizer,
                                                const LrScheduleOptions& options) {
  if (optimizer == nullptr) return absl::InvalidArgumentError("LrScheduler: no optimizer");
  if (options.warmup_steps < 0) {
    return absl::InvalidArgumentError("LrScheduler: warmup_steps must be >= 0");
  }
  const bool decays =
      options.kind == LrScheduleKind::kLinear || options.kind == LrScheduleKind::kCosine;
  if (decays && options.total_steps < 1) {
    return absl::InvalidArgumentError("LrScheduler: total_steps must be >= 1");
  }
  return LrScheduler(optimizer, options);
}

LrScheduler::LrScheduler(Optimizer* optimizer, const LrScheduleOptions& options)
    : optimizer_(optimizer), options_(options) {
  for (size_t g = 0; g < optimizer_->group_count(); ++g) base_lrs_.push_back(optimizer_->lr(g));
  Apply();
}

void LrScheduler::step() {
  ++step_;
  Apply();
}

void LrScheduler::Apply() {
  const double factor = LrFactor(options_, step_);
  for (size_t g = 0; g < base_lrs_.size(); ++g) optimizer_->set_lr(base_lrs_[g] * factor, g);
}

}  // namespace trustformers::nn
