// The sampler's random numbers (backends/xoshiro.h): one generator per choice; choice i of a
// request draws from a stream derived from (seed, i).
#pragma once

#include <cstdint>

#include "backends/xoshiro.h"

namespace trustformers::engine {

using backends::SplitMix64;

class Rng {
 public:
  // The stream for choice `stream` of a request seeded with `seed`. The stream index goes
  // through its own SplitMix64 round before it meets the seed, so neighbouring seeds and
  // neighbouring choices do not share a starting point.
  Rng(uint64_t seed, uint64_t stream) {
    uint64_t stream_state = stream;
    generator_.Seed(seed ^ SplitMix64(&stream_state));
  }

  // Seeds the four state words directly (reference vectors in tests).
  static Rng FromState(uint64_t s0, uint64_t s1, uint64_t s2, uint64_t s3) {
    Rng rng(0, 0);
    rng.generator_.set_state({s0, s1, s2, s3});
    return rng;
  }

  uint64_t Next() { return generator_.Next(); }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return generator_.Uniform(); }

 private:
  backends::Xoshiro256 generator_;
};

// A seed for requests that set none, from the operating system's entropy source.
uint64_t RandomSeed();

}  // namespace trustformers::engine
