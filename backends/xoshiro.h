// xoshiro256** seeded through SplitMix64: a generator whose draws are fully specified, so a seed
// gives the same numbers with any compiler and standard library (std::*_distribution does not
// promise that). Shared by the sampler (engine/sampling/rng.h) and training
// (models/nn/generator.h).
#pragma once

#include <array>
#include <cstdint>

namespace trustformers::backends {

// One SplitMix64 step: advances *state and returns the next output.
inline uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class Xoshiro256 {
 public:
  explicit Xoshiro256(uint64_t seed = 0) { Seed(seed); }

  // The four state words are SplitMix64's first four outputs from `seed`.
  void Seed(uint64_t seed) {
    for (uint64_t& word : state_) word = SplitMix64(&seed);
  }

  uint64_t Next() {
    const uint64_t result = Rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = Rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits: exact in a double, so the same on every platform.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // The whole state (checkpoints, reference vectors).
  const std::array<uint64_t, 4>& state() const { return state_; }
  void set_state(const std::array<uint64_t, 4>& state) { state_ = state; }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  std::array<uint64_t, 4> state_{};
};

}  // namespace trustformers::backends
