// Matrix products through oneDNN's matmul (brgemm kernels), for hot products ATen sends to
// OpenBLAS. On one Zen 5 core oneDNN reaches 190-220 GFLOP/s on HSNet's correlation shapes
// ([2500 x 512] x [512 x 500]: 6.1 ms); OpenBLAS 0.3.21 gives 100-120 with its Haswell kernels
// (13.2 ms; what it runs where OPENBLAS_CORETYPE=Haswell is pinned, as on the development machines)
// and 165-186 with its SkylakeX ones (docs/PERFORMANCE.md, "The machine matters"). Either operand
// may be a transposed view: oneDNN reads both strides, so nothing is copied.
#pragma once

#include <ATen/core/Tensor.h>

namespace difss::conv {

// a [M, K] x b [K, N] -> [M, N] contiguous, float32 on the CPU, with max(., 0) applied when
// `relu` (as clamp_min(0) would). Operands with neither stride 1 are made contiguous first.
// Throws std::invalid_argument naming the shapes when they do not fit.
at::Tensor matmul(const at::Tensor& a, const at::Tensor& b, bool relu = false);

}  // namespace difss::conv
