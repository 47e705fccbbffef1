#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "backends/cuda/cuda_self_test.h"

namespace trustformers::backends::cuda {
namespace {

__global__ void AffineKernel(const float* in, float* out, int n, float scale, float shift) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = in[i] * scale + shift;
}

absl::Status CudaError(const char* what, cudaError_t error) {
  return absl::FailedPreconditionError(std::string("CUDA ") + what + ": " +
                                       cudaGetErrorString(error));
}

// Copies `host` in, runs the kernel, copies the result back into `host`. `buffers` holds 2 * n
// floats on the device.
absl::Status RoundTrip(float* buffers, std::vector<float>& host) {
  const int n = static_cast<int>(host.size());
  const size_t bytes = host.size() * sizeof(float);
  if (cudaError_t e = cudaMemcpy(buffers, host.data(), bytes, cudaMemcpyHostToDevice);
      e != cudaSuccess) {
    return CudaError("copy to device", e);
  }
  AffineKernel<<<(n + 255) / 256, 256>>>(buffers, buffers + n, n, 2.0f, 1.0f);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return CudaError("kernel launch", e);
  if (cudaError_t e = cudaMemcpy(host.data(), buffers + n, bytes, cudaMemcpyDeviceToHost);
      e != cudaSuccess) {
    return CudaError("copy to host", e);
  }
  for (int i = 0; i < n; ++i) {
    if (host[i] != 2.0f * static_cast<float>(i) + 1.0f) {
      return absl::InternalError("CUDA self test: wrong result at element " + std::to_string(i));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunSelfTest(int device) {
  if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess) return CudaError("set device", e);
  constexpr int kCount = 1000;  // not a multiple of the block size: exercises the bounds check
  std::vector<float> host(kCount);
  for (int i = 0; i < kCount; ++i) host[i] = static_cast<float>(i);
  float* buffers = nullptr;
  if (cudaError_t e = cudaMalloc(&buffers, 2 * kCount * sizeof(float)); e != cudaSuccess) {
    return CudaError("malloc", e);
  }
  absl::Status result = RoundTrip(buffers, host);
  cudaFree(buffers);
  return result;
}

}  // namespace trustformers::backends::cuda
