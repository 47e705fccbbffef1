// A seeded random generator for parameter initialisation, randn and dropout masks:
// xoshiro256** seeded through SplitMix64, normals by Box-Muller. Its draws depend only on the
// seed, never on the standard library's distributions, so a seed means the same numbers on
// every platform (a checkpoint can store and restore it exactly).
#pragma once

#include <array>
#include <cstdint>

#include "backends/xoshiro.h"

namespace trustformers::nn {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { Seed(seed); }

  void Seed(uint64_t seed) { generator_.Seed(seed); }
  uint64_t NextU64() { return generator_.Next(); }
  // Uniform in [0, 1).
  double Uniform() { return generator_.Uniform(); }
  // Standard normal.
  double Normal();

  // The whole state (for checkpoints).
  std::array<uint64_t, 4> state() const { return generator_.state(); }
  void set_state(const std::array<uint64_t, 4>& state) { generator_.set_state(state); }

 private:
  backends::Xoshiro256 generator_;
};

}  // namespace trustformers::nn
