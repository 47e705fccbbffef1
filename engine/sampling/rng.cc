#include "engine/sampling/rng.h"

#include <random>

namespace trustformers::engine {

uint64_t RandomSeed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace trustformers::engine
