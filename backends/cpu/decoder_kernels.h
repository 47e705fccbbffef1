// For backend authors: the inner kernels of decoder_ops.cc that have an AVX2 + F16C version
// (decoder_kernels_avx2.cc, compiled with those flags and chosen at run time).
#pragma once

#include <cstdint>

namespace trustformers::backends::cpu {

// One query head attending to `visible` cached positions of one key/value head: position s's key
// and value rows (f16) are k_rows[s] and v_rows[s], the head's values starting `offset` values
// into each row. scores is scratch for `visible` floats; out receives head_dim floats.
using AttendFn = void (*)(const float* q, const uint16_t* const* k_rows,
                          const uint16_t* const* v_rows, int64_t offset, int64_t visible,
                          int64_t head_dim, float scale, float* scores, float* out);

// nullptr when the build has no AVX2 version; it needs head_dim to be a multiple of 8.
AttendFn Avx2Attend();

}  // namespace trustformers::backends::cpu
