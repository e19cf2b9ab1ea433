// Multi-head attention for the UNet, the ControlNet, CLIP and the VAE, and its CPU settings.
//
// At inference, fp32 on the CPU, without a mask and with at least fused_attention_min_keys() keys,
// attention runs through difss's fused kernel: per block of query rows, the scores, an in-cache
// softmax with a vectorised exp, and the product with the values, without the score matrix ever
// leaving the core's cache (src/attention_kernel.inl). It is built for AVX2+FMA and for AVX-512
// and chosen at run time from what the CPU reports. Elsewhere (training, masks, bf16, few keys,
// CPUs without AVX2) ATen's gemms and softmax run, in query-row blocks of attention_slice_bytes().
// The two agree to float rounding (tests/test_attention.cpp); the reduced-size parity references
// pass through either.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace difss::sd {

// q [B, N, H*D], k and v [B, M, H*D] -> [B, N, H*D]: per batch entry and head,
// softmax(q k^T * scale (+ mask [N, M])) v, softmax in float32.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads,
                     double scale, const at::Tensor& mask = {});

// The attention implementation for fp32 CPU inference:
//   "auto"    the fused kernel for the widest instruction set the CPU has, else ATen (default)
//   "aten"    ATen's gemms and softmax
//   "avx2", "avx512"   that fused kernel; set_attention_kernel throws std::invalid_argument
//             (naming what this CPU and build have) where it is not available
// The environment variable DIFSS_ATTENTION_KERNEL gives the initial setting; a bad value is
// reported (std::invalid_argument naming the variable) by the first attention call that could
// use a fused kernel, and by attention_kernel_in_use().
void set_attention_kernel(const std::string& name);
std::string attention_kernel();
// What "auto" (or the setting) runs on this CPU and build: "avx512", "avx2" or "aten".
std::string attention_kernel_in_use();
// The fused kernels this CPU and build can run, widest first.
std::vector<std::string> available_attention_kernels();

// Fewer keys than this (CLIP's 77-token cross-attention, small latents, the embedded default's
// tiny UNet) keep ATen's path. Default 256.
void set_fused_attention_min_keys(int64_t keys);
int64_t fused_attention_min_keys();

// Largest attention-score block (bytes) one attention call materialises: each head's query rows
// are processed in blocks below it (numerically the same as the unsliced computation up to the
// order of float additions inside matrix products). Default 1 MiB, about one core's L2 cache:
// the scores are written, softmaxed and consumed while they are still in cache.
void set_attention_slice_bytes(int64_t bytes);
int64_t attention_slice_bytes();

}  // namespace difss::sd
