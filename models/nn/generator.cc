#include "models/nn/generator.h"

#include <cmath>

namespace trustformers::nn {

double Generator::Normal() {
  // Box-Muller with one of the pair (no cached second value, so the state says everything).
  const double u1 = 1.0 - Uniform();  // (0, 1]
  const double u2 = Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace trustformers::nn
