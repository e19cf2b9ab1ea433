// Direct convolutions through oneDNN with cached primitives and weights reordered once.
//
// ATen 1.13 sets up its oneDNN convolution on every call (and reorders the weights each time unless
// they were packed). For the thousands of tiny channels-last images of HSNet's center-pivot 4D
// convolutions that setup dominates: on one Zen 5 core, 2500 images of 13x13 with 16 -> 64
// channels, 5x5, stride 4 take 21.7 ms through at::conv2d and 10.2 ms here; 2500 images of 2x2
// with 128 -> 128 channels 18.0 vs 14.9 ms. The same algorithm and kernels, so results agree with
// ATen's to float rounding (the order of the additions may differ).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>

namespace difss::conv {

class DirectConv {
 public:
  DirectConv();
  // x [N, C, H, W] float32 on the CPU (channels-last is the fast case; NCHW works), weight
  // [O, C, kh, kw] float32, bias [O] or undefined; `stride` and symmetric `padding` on both
  // axes. Returns [N, O, H', W'] in x's memory format. Throws std::runtime_error naming the shape
  // where oneDNN refuses it. Thread-safe; copies share the primitives and weights.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                     int64_t stride, int64_t padding) const;
  int64_t weight_bytes() const;  // the reordered weights held (0 before the first forward)
  void release() const;          // drops primitives and reordered weights

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace difss::conv
