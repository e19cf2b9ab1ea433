// 3x3 convolutions through oneDNN's Winograd F(4x4, 3x3) kernels, and when to use them.
//
// A 3x3, stride-1 convolution computed by Winograd's minimal filtering does 4x fewer multiplications
// than the direct one. oneDNN (the library LibTorch itself computes convolutions with) has an fp32
// implementation for AVX-512 CPUs, but ATen 1.13 always asks it for the direct algorithm; this
// library calls oneDNN directly. Measured on one Zen 5 core: 2.2-2.9x the direct convolution's
// speed at the VAE decoder's shapes (128-512 channels, 64²-512²). Rounding differs from the direct
// algorithm (the input and output transforms add a few float roundings): errors up to about 1e-6
// of the sum of the products' magnitudes, where the direct algorithm's reach 3e-7
// (tests/test_winograd.cpp states the bound).
//
// The transformed weights are 4x the size of the originals (6x6 taps instead of 3x3), so the
// default policy spends them only where the convolution is expensive per weight: large images.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>

namespace difss::conv {

// The convolution algorithm for eligible fp32 CPU inference convolutions:
//   "auto"      Winograd where winograd_worthwhile() says so and the CPU has it (default)
//   "direct"    always the direct algorithm (ATen's oneDNN call: the official computation)
//   "winograd"  Winograd for every eligible convolution the CPU can run it for, whatever its size
// The environment variable DIFSS_CONV_ALGORITHM gives the initial setting; a bad value is reported
// (std::invalid_argument naming the variable and the accepted values) by conv_algorithm().
void set_conv_algorithm(const std::string& name);
std::string conv_algorithm();

// Whether oneDNN offers an fp32 Winograd convolution on this CPU (probed once; AVX-512 needed),
// and if not, why (for logs and skipped tests).
bool winograd_available();
std::string winograd_unavailable_reason();

// The "auto" policy (for convolutions with at least 64 input and output channels) takes Winograd
// where either
//  - each image has at least winograd_min_pixels() output pixels (default 256*256: the VAE
//    decoder's two highest-resolution levels and its upsampling convolutions, where the transformed
//    weights cost about 100 MB more than the direct path while the decode runs 1.5x as fast), or
//  - the transformed weights are small (36 floats per input-output channel pair, at most 4 MiB:
//    up to 128 x 128 channels), each image has at least 16x16 output pixels and the call at least
//    2048 over all its images (HSNet's learner: 4 query images of 25x25 or 50x50 per call, its
//    decoder at 50x50 and 100x100; not its 2x2 support images, where Winograd is 2x slower).
// The UNet's and ControlNet's convolutions (320-1280 channels at 64x64 and below) keep the direct
// algorithm: their transformed weights would add about 1 GB.
void set_winograd_min_pixels(int64_t pixels);
int64_t winograd_min_pixels();

// oneDNN transforms a convolution's whole input at once: its scratchpad is about 4.5x the input
// (1.2 GB for 256 channels at 512x512). WinogradConv therefore convolves the image in strips of
// output rows whose input is at most this many bytes (at least 4 rows), each strip's input with
// its neighbours' halo rows. Default 12 MiB (a scratchpad of about 60 MB); measured on one core,
// strips of 16-128 rows run 256 channels at 512² in 523-546 ms, the whole image in 518 ms.
void set_winograd_strip_bytes(int64_t bytes);
int64_t winograd_strip_bytes();

// Whether a convolution of this shape may run Winograd at all: 3x3, stride 1, padding 1,
// dilation 1, one group, input and output channels multiples of 16 (oneDNN pads other counts to
// its 16-channel blocks, which wastes what Winograd saves).
bool winograd_shape_ok(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride,
                       int64_t padding);
// The current setting's decision for an eligible fp32 CPU inference convolution producing n
// images of h x w: false under "direct", true under "winograd" when available, and under "auto"
// when available and the policy above says so.
bool winograd_wanted(int64_t in_channels, int64_t out_channels, int64_t n, int64_t h, int64_t w);

// The whole decision for one call: no gradient recorded, x [N, C, H, W] and weight float32 on
// the CPU, the shape eligible (winograd_shape_ok) and the setting wanting it (winograd_wanted).
bool winograd_applies(const at::Tensor& x, const at::Tensor& weight, int64_t stride, int64_t padding);

// "auto (Winograd available)" or "direct (Winograd unavailable: <why>)": for benches' headers.
std::string conv_setting_summary();

// One convolution's Winograd state: its oneDNN primitive per input shape and its transformed
// weights, made on first use and remade when the weights passed in change (another tensor or an
// in-place update). Thread-safe. Copies share the state.
class WinogradConv {
 public:
  WinogradConv();
  // x [N, C, H, W] float32 on the CPU (NCHW or channels-last), weight [O, C, 3, 3] float32,
  // bias [O] or undefined; stride 1, padding 1. The result has x's memory format. Throws
  // std::runtime_error naming the shape where oneDNN cannot run it (check winograd_shape_ok and
  // winograd_available first).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) const;
  // Bytes held by the transformed weights (0 before the first forward and after release()).
  int64_t weight_bytes() const;
  // Drops the transformed weights and primitives (the next forward makes them again).
  void release() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace difss::conv
