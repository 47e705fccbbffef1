// quant_kernels_avx2.cc compiled again for CPUs with AVX-512 VNNI (and VL, for its 256-bit form):
// its u8 x s8 dot products become one vpdpbusd each. The file is built with the AVX2 flags; the
// AVX-512 ones apply to its own functions only (see there).
#define TF_QUANT_VNNI 1
#include "backends/cpu/quant/quant_kernels_avx2.cc"  // NOLINT(bugprone-suspicious-include)
