// The fused CPU attention kernel's interface between the dispatcher (attention.cpp, built for any
// x86-64) and its per-instruction-set builds (attention_avx2.cpp, attention_avx512.cpp, each
// compiled with its own -m flags from attention_kernel.inl). Plain C++: no LibTorch here.
#pragma once

#include <cstdint>

namespace difss::sd::kernels {

// One block of query rows of one attention head, fp32:
//   out[i][0..D) = softmax_j(scale * q[i] . k[j]) v[j]     for i < rows
// Keys and values arrive packed (see pack_* in attention.cpp) so that the kernel streams them:
//   kp: Mp / panel panels, each [D][panel] floats (panel = 2 * lanes keys side by side),
//       keys M..Mp zero;
//   vp: [Mp][Dp] floats, Dp = D rounded up to lanes, padding zero.
struct AttentionBlock {
  const float* q = nullptr;    // first query row of the block; row i at q + i * q_stride
  int64_t q_stride = 0;
  float* out = nullptr;        // output row i at out + i * out_stride (D floats written)
  int64_t out_stride = 0;
  int64_t rows = 0;            // 1 .. block_rows
  const float* kp = nullptr;
  const float* vp = nullptr;
  int64_t M = 0, Mp = 0, D = 0, Dp = 0;
  float scale = 1.0f;
  // Scratch for block_rows rows (the caller's, so that a thread reuses it across blocks):
  float* qs = nullptr;         // [block_rows][D]   scaled queries
  float* s = nullptr;          // [block_rows][ls]  scores, then probabilities (ls >= Mp)
  int64_t ls = 0;
  float* o = nullptr;          // [block_rows][Dp]  unnormalised outputs
  float* inv = nullptr;        // [block_rows]      1 / row sum of the probabilities
};

// Each build's shape: floats per vector, query rows per register tile (block_rows, the
// scratch's rows, is a multiple of it), output vectors per register tile of the value product.
// Only the block functions themselves are compiled with the instruction set's flags: everything
// the dispatcher calls on an arbitrary CPU to decide lives outside them.
struct KernelShape {
  int lanes, rows, value_vectors;
};
inline constexpr KernelShape kAvx2Shape{8, 4, 3};     // 16 registers: 8 + 12 accumulators
inline constexpr KernelShape kAvx512Shape{16, 8, 3};  // 32 registers: 16 + 24 accumulators

// Defined only on x86-64 builds with GCC-compatible compilers (DIFSS_ATTENTION_KERNELS).
void attention_block_avx2(const AttentionBlock& b);
void attention_block_avx512(const AttentionBlock& b);

}  // namespace difss::sd::kernels
