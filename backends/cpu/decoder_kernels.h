// For backend authors: the inner kernels of decoder_ops.cc that have an AVX2 version
// (decoder_kernels_avx2.cc, compiled with AVX2 + FMA + F16C and chosen at run time). Each AVX2
// kernel gives the same bits as its scalar oracle in decoder_ops.cc.
#pragma once

#include <cstdint>

namespace trustformers::backends::cpu {

// The order of the sums in one head's attention. llama.cpp's CPU backend (whose logits we match
// bit for bit, tests/golden/llama/) sums a step of one token with its dot-product kernel (four
// 16-lane accumulators over 64 values at a time, then a tree) and a step of several tokens with
// its matrix kernel (one 16-lane accumulator over 16 values at a time, then the same tree).
enum class AttentionOrder { kOneRow, kManyRows };

// One query head attending to `visible` cached positions of one key/value head: position s's key
// and value rows (f16) are k_rows[s] and v_rows[s], the head's values starting `offset` values
// into each row. As ggml does, the query is rounded to f16 before the key products and the
// probabilities after normalisation, exp is exp_polynomial::Exp, and the softmax sum runs in
// double over 16-value tree sums. scratch holds AttendScratchFloats(visible, head_dim) floats;
// out receives head_dim floats.
using AttendFn = void (*)(const float* q, const uint16_t* const* k_rows,
                          const uint16_t* const* v_rows, int64_t offset, int64_t visible,
                          int64_t head_dim, float scale, AttentionOrder order, float* scratch,
                          float* out);

int64_t AttendScratchFloats(int64_t visible, int64_t head_dim);

// gate[i] = silu(gate[i]) * up[i]: exp_polynomial::Silu on whole groups of 16 values, libm's expf
// on the last n % 16 (ggml's split).
using SwiGluFn = void (*)(float* gate, const float* up, int64_t n);

// Rotates the first rotary_dims values of `heads` heads of head_dim in each of `rows` rows (rows
// `stride` floats apart) by the rows' cos/sin pairs (angles: rows x rotary_dims), pairing
// adjacent values (interleaved) or the two halves. Each pair's first output fuses its cos
// product and its second output its sin product, as ggml's compiled kernel does.
using RopeFn = void (*)(float* x, int64_t rows, int64_t stride, int64_t heads, int64_t head_dim,
                        const float* angles, int64_t rotary_dims, bool interleaved);

// f32 to f16, rounded to nearest even (new keys and values into the cache).
using FloatsToHalvesFn = void (*)(const float* x, int64_t n, uint16_t* out);

// nullptr when the build has no AVX2 version; attention needs head_dim to be a multiple of 8.
AttendFn Avx2Attend();
SwiGluFn Avx2SwiGlu();
FloatsToHalvesFn Avx2FloatsToHalves();
RopeFn Avx2Rope();

}  // namespace trustformers::backends::cpu
