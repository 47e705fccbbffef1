// The sampler's random numbers: xoshiro256** seeded through SplitMix64, both fully specified, so a
// seed gives the same draws with any compiler and standard library (std::*_distribution does
// not promise that). One generator per choice; choice i of a request draws from a stream derived
// from (seed, i).
#pragma once

#include <cstdint>

namespace trustformers::engine {

// One SplitMix64 step: advances *state and returns the next output.
inline uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class Rng {
 public:
  // The stream for choice `stream` of a request seeded with `seed`. The stream index goes
  // through its own SplitMix64 round before it meets the seed, so neighbouring seeds and
  // neighbouring choices do not share a starting point.
  Rng(uint64_t seed, uint64_t stream) {
    uint64_t stream_state = stream;
    uint64_t state = seed ^ SplitMix64(&stream_state);
    for (uint64_t& word : state_) word = SplitMix64(&state);
  }

  // Seeds the four state words directly (reference vectors in tests).
  static Rng FromState(uint64_t s0, uint64_t s1, uint64_t s2, uint64_t s3) {
    Rng rng(0, 0);
    rng.state_[0] = s0;
    rng.state_[1] = s1;
    rng.state_[2] = s2;
    rng.state_[3] = s3;
    return rng;
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

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  uint64_t state_[4];
};

// A seed for requests that set none, from the operating system's entropy source.
uint64_t RandomSeed();

}  // namespace trustformers::engine
