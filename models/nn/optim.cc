#include "models/nn/optim.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trustformers::nn {

Optimizer::Optimizer(std::vector<ParamGroup> groups, double lr, double weight_decay) {
  for (ParamGroup& g : groups) {
    groups_.push_back(
        {std::move(g.params), g.lr.value_or(lr), g.weight_decay.value_or(weight_decay)});
  }
}

void Optimizer::zero_grad() {
  for (const Group& g : groups_) {
    for (const Tensor& p : g.params) p.zero_grad();
  }
}

void Optimizer::set_lr(double lr, size_t group) {
  if (group < groups_.size()) groups_[group].lr = lr;
}

SGD::SGD(std::vector<ParamGroup> groups, const SgdOptions& options)
    : Optimizer(std::move(groups), options.lr, options.weight_decay), options_(options) {
  for (const Group& g : groups_) momentum_.emplace_back(g.params.size());
}

absl::Status SGD::step() {
  if (options_.nesterov && (options_.momentum <= 0 || options_.dampening != 0)) {
    return absl::InvalidArgumentError("SGD: Nesterov momentum needs momentum > 0, dampening 0");
  }
  if (options_.momentum < 0 || options_.lr < 0) {
    return absl::InvalidArgumentError("SGD: lr and momentum must be >= 0");
  }
  const float momentum = static_cast<float>(options_.momentum);
  const float damp = static_cast<float>(1.0 - options_.dampening);
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const Group& group = groups_[gi];
    const float wd = static_cast<float>(group.weight_decay);
    const float neg_lr = static_cast<float>(-group.lr);
    for (size_t pi = 0; pi < group.params.size(); ++pi) {
      const Tensor& p = group.params[pi];
      const float* grad = p.mutable_grad();
      if (grad == nullptr) continue;
      float* w = p.mutable_data();
      std::vector<float>& buf = momentum_[gi][pi];
      const bool first = buf.empty();
      if (first && momentum != 0) buf.resize(static_cast<size_t>(p.numel()));
      for (int64_t i = 0; i < p.numel(); ++i) {
        float d = wd != 0 ? grad[i] + wd * w[i] : grad[i];
        if (momentum != 0) {
          float& b = buf[static_cast<size_t>(i)];
          b = first ? d : b * momentum + damp * d;
          d = options_.nesterov ? d + momentum * b : b;
        }
        w[i] = w[i] + neg_lr * d;
      }
    }
  }
  return absl::OkStatus();
}

Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& options, bool decoupled)
    : Optimizer(std::move(groups), options.lr, options.weight_decay),
      options_(options),
      decoupled_(decoupled) {
  for (const Group& g : groups_) state_.emplace_back(g.params.size());
}

absl::Status Adam::step() {
  const AdamOptions& o = options_;
  if (!(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1 && o.eps >= 0)) {
    return absl::InvalidArgumentError("Adam: betas must be in [0, 1) and eps >= 0");
  }
  const float one_minus_beta1 = static_cast<float>(1.0 - o.beta1);
  const float beta2 = static_cast<float>(o.beta2);
  const float one_minus_beta2 = static_cast<float>(1.0 - o.beta2);
  const float eps = static_cast<float>(o.eps);
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const Group& group = groups_[gi];
    for (size_t pi = 0; pi < group.params.size(); ++pi) {
      const Tensor& p = group.params[pi];
      const float* grad = p.mutable_grad();
      if (grad == nullptr) continue;
      float* w = p.mutable_data();
      State& s = state_[gi][pi];
      const size_t n = static_cast<size_t>(p.numel());
      if (s.step == 0) {
        s.exp_avg.assign(n, 0.0f);
        s.exp_avg_sq.assign(n, 0.0f);
      }
      ++s.step;
      // Scalars in double, as Python computes them; applied in float as torch's kernels do.
      const double bias1 = 1.0 - std::pow(o.beta1, static_cast<double>(s.step));
      const double bias2 = 1.0 - std::pow(o.beta2, static_cast<double>(s.step));
      const float neg_step_size = static_cast<float>(-(group.lr / bias1));
      const float bias2_sqrt = static_cast<float>(std::sqrt(bias2));
      const float l2 = decoupled_ ? 0.0f : static_cast<float>(group.weight_decay);
      const float shrink = static_cast<float>(1.0 - group.lr * group.weight_decay);
      float* exp_avg = s.exp_avg.data();
      float* exp_avg_sq = s.exp_avg_sq.data();
      const bool decay = decoupled_ && group.weight_decay != 0;
#pragma omp parallel for schedule(static) if (n > (1 << 15))
      for (size_t i = 0; i < n; ++i) {
        if (decay) w[i] *= shrink;
        const float g = l2 != 0 ? grad[i] + l2 * w[i] : grad[i];
        float& m = exp_avg[i];
        float& v = exp_avg_sq[i];
        m = m + one_minus_beta1 * (g - m);
        v = v * beta2 + one_minus_beta2 * g * g;
        const float denom = std::sqrt(v) / bias2_sqrt + eps;
        w[i] = w[i] + neg_step_size * m / denom;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Adam::set_state(std::vector<std::vector<State>> state) {
  if (state.size() != groups_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Adam: a state of ", state.size(), " groups for ", groups_.size(), " groups"));
  }
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    if (state[gi].size() != groups_[gi].params.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Adam: group ", gi, " has ", groups_[gi].params.size(),
                       " parameters but the state ", state[gi].size()));
    }
    for (size_t pi = 0; pi < state[gi].size(); ++pi) {
      const State& s = state[gi][pi];
      const auto n = static_cast<size_t>(groups_[gi].params[pi].numel());
      const bool fits = s.step < 0    ? false
                        : s.step == 0 ? true
                                      : s.exp_avg.size() == n && s.exp_avg_sq.size() == n;
      if (!fits) {
        return absl::InvalidArgumentError(
            absl::StrCat("Adam: the state of group ", gi, " parameter ", pi, " does not fit it"));
      }
    }
  }
  state_ = std::move(state);
  return absl::OkStatus();
}

absl::StatusOr<float> clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  if (!(max_norm >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat("clip_grad_norm: max_norm ", max_norm));
  }
  // Sums of fixed chunks, added in order: the same total whatever the thread count.
  constexpr int64_t kChunk = 1 << 14;
  double squares = 0;
  std::vector<double> partial;
  for (const Tensor& p : params) {
    const float* g = p.mutable_grad();
    if (g == nullptr) continue;
    const int64_t n = p.numel();
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    partial.assign(static_cast<size_t>(chunks), 0.0);
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (int64_t c = 0; c < chunks; ++c) {
      double sum = 0;
      for (int64_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); ++i) {
        sum += double{g[i]} * g[i];
      }
      partial[static_cast<size_t>(c)] = sum;
    }
    for (double sum : partial) squares += sum;
  }
  const float total = static_cast<float>(std::sqrt(squares));
  const float coef = static_cast<float>(max_norm) / (total + 1e-6f);
  if (coef < 1.0f) {
    for (const Tensor& p : params) {
      float* g = p.mutable_grad();
      if (g == nullptr) continue;
      const int64_t n = p.numel();
#pragma omp parallel for schedule(static) if (n > (1 << 15))
      for (int64_t i = 0; i < n; ++i) g[i] *= coef;
    }
  }
  return total;
}

}  // namespace trustformers::nn
