// Tensor: a typed, shaped view of bytes in a Buffer. Buffers are shared (a tensor and its views
// keep the memory alive) and may borrow memory they do not own, such as a memory-mapped weight
// file, so weights are used in place. Shapes are row-major; strides are in elements.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/dtype.h"

namespace trustformers::backends {

using Shape = std::vector<int64_t>;

// Bytes on the host, 64-byte aligned when owned.
class Buffer {
 public:
  // Owned, uninitialised memory.
  static std::shared_ptr<Buffer> Allocate(size_t bytes);
  // Memory owned elsewhere; `keepalive` holds the owner (e.g. the mapped file) while any tensor
  // uses it.
  static std::shared_ptr<Buffer> Borrow(const void* data, size_t bytes,
                                        std::shared_ptr<const void> keepalive);

  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t size() const { return size_; }
  // Borrowed memory is read-only to kernels.
  bool writable() const { return owned_; }

 private:
  Buffer(void* data, size_t size, bool owned, std::shared_ptr<const void> keepalive)
      : data_(data), size_(size), owned_(owned), keepalive_(std::move(keepalive)) {}

  void* data_;
  size_t size_;
  bool owned_;
  std::shared_ptr<const void> keepalive_;
};

class Tensor {
 public:
  Tensor() = default;

  // Contiguous, owned, uninitialised.
  static Tensor Empty(DType dtype, Shape shape);
  // Contiguous, owned, zero-filled.
  static Tensor Zeros(DType dtype, Shape shape);
  // F32 tensor holding a copy of `values`; values.size() must equal the shape's element count.
  static Tensor FromVector(const std::vector<float>& values, Shape shape);
  // A contiguous view of borrowed memory (zero-copy).
  static Tensor Borrow(DType dtype, Shape shape, const void* data,
                       std::shared_ptr<const void> keepalive);

  bool defined() const { return buffer_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  // Size of dimension `i`; negative counts from the end.
  int64_t dim(int i) const { return shape_[static_cast<size_t>(i < 0 ? rank() + i : i)]; }
  int64_t element_count() const;
  size_t byte_size() const { return static_cast<size_t>(element_count() * DTypeSize(dtype_)); }
  bool is_contiguous() const;
  bool writable() const { return buffer_ != nullptr && buffer_->writable(); }

  template <typename T>
  T* data() {
    return reinterpret_cast<T*>(static_cast<char*>(buffer_->data()) + offset_);
  }
  template <typename T>
  const T* data() const {
    return reinterpret_cast<const T*>(static_cast<const char*>(buffer_->data()) + offset_);
  }

  // Same bytes, new shape with the same element count. INVALID_ARGUMENT otherwise or when the
  // tensor is not contiguous.
  absl::StatusOr<Tensor> Reshape(Shape shape) const;
  // Rows [begin, end) of the leading dimension, as a view.
  Tensor Rows(int64_t begin, int64_t end) const;
  // A contiguous F32 copy (F32, F16 and BF16 sources).
  absl::StatusOr<Tensor> ToF32() const;

  // "F32[2, 3]", for messages.
  std::string Describe() const;

 private:
  DType dtype_ = DType::kF32;
  Shape shape_;
  Shape strides_;
  std::shared_ptr<Buffer> buffer_;
  size_t offset_ = 0;  // bytes from the buffer's start
};

Shape ContiguousStrides(const Shape& shape);
std::string ShapeString(const Shape& shape);

// IEEE half and bfloat16 to float.
float HalfToFloat(uint16_t bits);
float BFloat16ToFloat(uint16_t bits);
// Float to IEEE half, rounding to nearest even (as F16C's vcvtps2ph does): overflow gives
// infinity, NaN stays NaN.
uint16_t FloatToHalf(float value);

}  // namespace trustformers::backends
