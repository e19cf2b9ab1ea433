// A convolution over images so small that each output sees most of its image, computed as one
// dense linear map of the whole image: a matrix product with h*w*C inputs and oh*ow*O outputs per
// image instead of kh*kw taps per output pixel, most of them on padding.
//
// HSNet's center-pivot convolutions over 2x2 support images with a 3x3 kernel are the case: 4 of
// the 9 taps of every output touch the image, so the product does 4/9 of the convolution's
// multiply-adds, as one large GEMM (oneDNN, 230 GFLOP/s on one core) instead of 2500 tiny images.
// Measured on one Zen 5 core, 2500 images of 2x2, 128 -> 128 channels: 5.5 ms against 13.8 ms
// for oneDNN's direct convolution (and 18.0 ms through at::conv2d). The map's entries are the
// weights themselves (taken by convolving the identity), so results agree with the convolution to
// float rounding (the order of the additions differs).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>

namespace difss::conv {

class SmallImageConv {
 public:
  SmallImageConv();
  // Whether the dense map does fewer multiply-adds than the convolution: h * w < kh * kw (the
  // image smaller than the kernel's window), and the map stays small (at most 2048 inputs and
  // outputs per image).
  static bool worthwhile(int64_t channels, int64_t h, int64_t w, int64_t out_channels, int64_t kernel);
  // x [N, C, h, w] float32 on the CPU, weight [O, C, k, k], bias [O] or undefined; stride and
  // symmetric padding. Returns [N, O, oh, ow] channels-last. The map is made on first use and
  // again when the weights (another tensor or an in-place update) or the image size change.
  // Thread-safe; copies share the map.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                     int64_t stride, int64_t padding) const;
  int64_t map_bytes() const;  // the dense map held (0 before the first forward)

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace difss::conv
