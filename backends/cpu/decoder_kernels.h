// For backend authors: the inner kernels of decoder_ops.cc that have an AVX2 + F16C version
// (decoder_kernels_avx2.cc, compiled with those flags and chosen at run time).
#pragma once

#include <cstdint>

namespace trustformers::backends::cpu {

// One query head attending to `visible` cached positions of one key/value head: k and v point at
// that head's first value in position 0, positions kv_stride values apart, f16. scores is scratch
// for `visible` floats; out receives head_dim floats.
using AttendFn = void (*)(const float* q, const uint16_t* k, const uint16_t* v, int64_t kv_stride,
                          int64_t visible, int64_t head_dim, float scale, float* scores,
                          float* out);

// nullptr when the build has no AVX2 version; it needs head_dim to be a multiple of 8.
AttendFn Avx2Attend();

}  // namespace trustformers::backends::cpu
