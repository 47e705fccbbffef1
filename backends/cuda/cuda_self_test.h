// A kernel launch round trip on one CUDA device: proves the binary's device code matches the GPU
// (architecture, driver) before a model is placed there.
#pragma once

#include "absl/status/status.h"

namespace trustformers::backends::cuda {

// Runs a small kernel on `device` and checks its output. FAILED_PRECONDITION with the CUDA error
// text when no usable device or the code cannot run on it.
absl::Status RunSelfTest(int device);

}  // namespace trustformers::backends::cuda
