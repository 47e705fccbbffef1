// A seeded random generator for parameter initialisation, randn and dropout masks:
// xoshiro256** seeded through SplitMix64, normals by Box-Muller. Its draws depend only on the
// seed, never on the standard library's distributions, so a seed means the same numbers on
// every platform (a checkpoint can store and restore it exactly).
#pragma once

#include <array>
#include <cstdint>

namespace trustformers::nn {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { Seed(seed); }

  void Seed(uint64_t seed);
  uint64_t NextU64();
  // Uniform in [0, 1).
  double Uniform();
  // Standard normal.
  double Normal();

  // The whole state (for checkpoints).
  std::array<uint64_t, 4> state() const { return state_; }
  void set_state(const std::array<uint64_t, 4>& state) { state_ = state; }

 private:
  std::array<uint64_t, 4> state_{};
};

}  // namespace trustformers::nn
