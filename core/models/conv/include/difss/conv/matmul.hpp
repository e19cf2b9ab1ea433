// Matrix products through oneDNN's matmul (brgemm kernels), for the hot products ATen sends to
// OpenBLAS: Debian's OpenBLAS 0.3.21 runs its Haswell (AVX2) kernels on AVX-512 CPUs, about
// 100-120 GFLOP/s on one Zen 5 core, where oneDNN reaches 190-220 (HSNet's correlations,
// [2500 x 512] x [512 x 500]: 13.2 ms through at::mm, 6.1 ms here). Either operand may be a
// transposed view: oneDNN reads both strides, so nothing is copied.
#pragma once

#include <ATen/core/Tensor.h>

namespace difss::conv {

// a [M, K] x b [K, N] -> [M, N] contiguous, float32 on the CPU, with max(., 0) applied when
// `relu` (as clamp_min(0) would). Operands with neither stride 1 are made contiguous first.
// Throws std::invalid_argument naming the shapes when they do not fit.
at::Tensor matmul(const at::Tensor& a, const at::Tensor& b, bool relu = false);

}  // namespace difss::conv
