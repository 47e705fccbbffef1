# Third-party libraries, all from Debian 12 packages (scripts/install-deps.sh installs them).
find_package(Threads REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)

find_program(TF_PROTOC protoc REQUIRED)
find_program(TF_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
find_package(OpenSSL REQUIRED)
# Header-only Beast/Asio for the REST gateway (Debian's libboost-dev).
find_package(Boost 1.74 REQUIRED)
# oneDNN (Debian's build uses OpenMP, and its CMake package asks for OpenCL, the runtime of its
# GPU engine: ocl-icd-opencl-dev): our CPU kernels use the same OpenMP runtime, so every
# kernel shares one thread pool.
find_package(dnnl CONFIG REQUIRED)
find_package(OpenMP REQUIRED)
