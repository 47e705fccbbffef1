#include "backends/tensor.h"

#include <bit>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace trustformers::backends {

namespace {

constexpr size_t kAlign = 64;  // a cache line and an AVX-512 register
// Activations of a forward pass are megabytes and die microseconds later. Freed to the system,
// each would come back as fresh pages that fault on first touch (glibc maps blocks over 32 MiB
// directly), so large blocks are kept in power-of-two size classes and reused.
constexpr size_t kPooledFrom = 64 * 1024;
constexpr size_t kMaxPooledBytes = size_t{1} << 30;

class BlockPool {
 public:
  static BlockPool& Get() {
    static BlockPool* pool = new BlockPool();  // never destroyed: buffers may outlive statics
    return *pool;
  }

  static size_t SizeClass(size_t bytes) { return std::bit_ceil(bytes); }

  void* Take(size_t size_class) {
    {
      std::lock_guard lock(mutex_);
      auto it = free_.find(size_class);
      if (it != free_.end() && !it->second.empty()) {
        void* block = it->second.back();
        it->second.pop_back();
        cached_ -= size_class;
        return block;
      }
    }
    return std::aligned_alloc(kAlign, size_class);
  }

  void Give(void* block, size_t size_class) {
    {
      std::lock_guard lock(mutex_);
      if (cached_ + size_class <= kMaxPooledBytes) {
        free_[size_class].push_back(block);
        cached_ += size_class;
        return;
      }
    }
    std::free(block);
  }

 private:
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
};

}  // namespace

std::shared_ptr<Buffer> Buffer::Allocate(size_t bytes) {
  void* data = nullptr;
  if (bytes >= kPooledFrom) {
    data = BlockPool::Get().Take(BlockPool::SizeClass(bytes));
  } else {
    const size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
    data = std::aligned_alloc(kAlign, rounded == 0 ? kAlign : rounded);
  }
  return std::shared_ptr<Buffer>(new Buffer(data, bytes, /*owned=*/true, nullptr));
}

std::shared_ptr<Buffer> Buffer::Borrow(const void* data, size_t bytes,
                                       std::shared_ptr<const void> keepalive) {
  return std::shared_ptr<Buffer>(
      new Buffer(const_cast<void*>(data), bytes, /*owned=*/false, std::move(keepalive)));
}

Buffer::~Buffer() {
  if (!owned_) return;
  if (size_ >= kPooledFrom) {
    BlockPool::Get().Give(data_, BlockPool::SizeClass(size_));
  } else {
    std::free(data_);
  }
}

Shape ContiguousStrides(const Shape& shape) {
  Shape strides(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) {
    strides[static_cast<size_t>(i)] =
        strides[static_cast<size_t>(i) + 1] * shape[static_cast<size_t>(i) + 1];
  }
  return strides;
}

std::string ShapeString(const Shape& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

Tensor Tensor::Empty(DType dtype, Shape shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.strides_ = ContiguousStrides(t.shape_);
  t.buffer_ = Buffer::Allocate(t.byte_size());
  return t;
}

Tensor Tensor::Zeros(DType dtype, Shape shape) {
  Tensor t = Empty(dtype, std::move(shape));
  std::memset(t.buffer_->data(), 0, t.byte_size());
  return t;
}

Tensor Tensor::FromVector(const std::vector<float>& values, Shape shape) {
  Tensor t = Empty(DType::kF32, std::move(shape));
  std::memcpy(t.data<float>(), values.data(),
              std::min(values.size() * sizeof(float), t.byte_size()));
  return t;
}

Tensor Tensor::Borrow(DType dtype, Shape shape, const void* data,
                      std::shared_ptr<const void> keepalive) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.strides_ = ContiguousStrides(t.shape_);
  t.buffer_ = Buffer::Borrow(data, t.byte_size(), std::move(keepalive));
  return t;
}

int64_t Tensor::element_count() const {
  int64_t count = 1;
  for (int64_t d : shape_) count *= d;
  return count;
}

bool Tensor::is_contiguous() const { return strides_ == ContiguousStrides(shape_); }

absl::StatusOr<Tensor> Tensor::Reshape(Shape shape) const {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  if (count != element_count() || !is_contiguous()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot reshape ", Describe(), " to ", ShapeString(shape)));
  }
  Tensor t = *this;
  t.shape_ = std::move(shape);
  t.strides_ = ContiguousStrides(t.shape_);
  return t;
}

Tensor Tensor::Rows(int64_t begin, int64_t end) const {
  Tensor t = *this;
  t.shape_[0] = end - begin;
  t.offset_ += static_cast<size_t>(begin * strides_[0] * DTypeSize(dtype_));
  return t;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits = 0;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf / nan
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa != 0) {
    // Subnormal half: normalise into a float exponent.
    exponent = 113;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  } else {
    bits = sign;
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

uint16_t FloatToHalf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or NaN (NaN keeps a quiet payload bit)
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds past 65504
  if (abs < 0x38800000u) {
    // Subnormal half (or zero): the value in units of 2^-24, rounded to nearest even.
    if (abs < 0x33000000u) return sign;  // below half the smallest subnormal
    const uint32_t exponent = abs >> 23;
    const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exponent;  // 14 .. 24
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t midpoint = 1u << (shift - 1);
    if (rest > midpoint || (rest == midpoint && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  // Normal: rebias the exponent, round the 13 dropped mantissa bits to nearest even (a carry
  // into the exponent is the correct result).
  uint32_t half = ((abs >> 13) - (112u << 10));
  const uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

float BFloat16ToFloat(uint16_t b) {
  const uint32_t bits = uint32_t{b} << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

absl::StatusOr<Tensor> Tensor::ToF32() const {
  if (!is_contiguous()) return absl::UnimplementedError("ToF32 of a strided view");
  Tensor out = Empty(DType::kF32, shape_);
  float* dst = out.data<float>();
  const int64_t n = element_count();
  switch (dtype_) {
    case DType::kF32:
      std::memcpy(dst, data<float>(), byte_size());
      return out;
    case DType::kF16: {
      const uint16_t* src = data<uint16_t>();
      for (int64_t i = 0; i < n; ++i) dst[i] = HalfToFloat(src[i]);
      return out;
    }
    case DType::kBF16: {
      const uint16_t* src = data<uint16_t>();
      for (int64_t i = 0; i < n; ++i) dst[i] = BFloat16ToFloat(src[i]);
      return out;
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat("cannot convert ", Describe(), " to F32"));
  }
}

std::string Tensor::Describe() const {
  return absl::StrCat(DTypeName(dtype_), ShapeString(shape_));
}

}  // namespace trustformers::backends
