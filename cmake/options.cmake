# Backend switches. Each defaults to ON when its toolchain is on the machine, so a plain
# configure builds every backend it can.
include(CheckLanguage)

if(NOT DEFINED CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
check_language(CUDA)
if(CMAKE_CUDA_COMPILER)
  set(tf_cuda_default ON)
else()
  set(tf_cuda_default OFF)
endif()
option(TF_CUDA "Build the CUDA backend (cuBLAS + our kernels)" ${tf_cuda_default})

find_package(Vulkan QUIET)
find_program(TF_GLSLC glslc)
if(Vulkan_FOUND AND TF_GLSLC)
  set(tf_vulkan_default ON)
else()
  set(tf_vulkan_default OFF)
endif()
option(TF_VULKAN "Build the Vulkan backend (GLSL compute shaders)" ${tf_vulkan_default})

if(TF_CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    message(FATAL_ERROR "TF_CUDA=ON but no CUDA compiler was found; install the CUDA toolkit "
                        "or configure with -DTF_CUDA=OFF")
  endif()
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80 90)
  endif()
  set(CMAKE_CUDA_STANDARD 17)  # CMake 3.25 knows no CUDA20 flags for nvcc
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
endif()

if(TF_VULKAN)
  if(NOT Vulkan_FOUND OR NOT TF_GLSLC)
    message(FATAL_ERROR "TF_VULKAN=ON needs the Vulkan loader (libvulkan-dev) and glslc; run "
                        "scripts/install-deps.sh or configure with -DTF_VULKAN=OFF")
  endif()
endif()
