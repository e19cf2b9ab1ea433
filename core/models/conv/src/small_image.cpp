// SmallImageConv: the convolution of a tiny image as one matrix product (through DirectConv's
// 1x1 convolution, oneDNN's fastest GEMM here).
#include <difss/conv/small_image.hpp>

#include <difss/conv/direct.hpp>

#include "conv_state.hpp"

#include <ATen/ATen.h>
#include <ATen/record_function.h>

#include <array>
#include <mutex>
#include <stdexcept>
#include <string>

namespace difss::conv {

struct SmallImageConv::State {
  std::mutex mutex;
  // The map [outputs, inputs, 1, 1] and the repeated bias, and what they were made from.
  at::Tensor map, bias;
  std::array<int64_t, 6> shape{};  // h, w, stride, padding, out h, out w
  TensorStamp weight, bias_source;  // what the map was made from
  DirectConv gemm;
};

SmallImageConv::SmallImageConv() : state_(std::make_shared<State>()) {}

bool SmallImageConv::worthwhile(int64_t channels, int64_t h, int64_t w, int64_t out_channels,
                                int64_t kernel) {
  constexpr int64_t kMaxFeatures = 2048;
  return h * w < kernel * kernel && h * w * channels <= kMaxFeatures && h * w * out_channels <= kMaxFeatures;
}

at::Tensor SmallImageConv::forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                   int64_t stride, int64_t padding) const {
  RECORD_FUNCTION("difss::small_image_conv", std::vector<c10::IValue>({x, weight}));
  if (x.dim() != 4 || weight.dim() != 4 || x.size(1) != weight.size(1) || x.scalar_type() != at::kFloat ||
      weight.scalar_type() != at::kFloat || !x.device().is_cpu())
    throw std::runtime_error("SmallImageConv: expected float32 CPU x [N, C, h, w] and weight [O, C, k, k]; got x " +
                             std::string(c10::str(x.sizes())) + ", weight " + std::string(c10::str(weight.sizes())));
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), o = weight.size(0);
  const int64_t oh = (h + 2 * padding - weight.size(2)) / stride + 1, ow = (w + 2 * padding - weight.size(3)) / stride + 1;
  if (oh < 1 || ow < 1) throw std::runtime_error("SmallImageConv: the kernel does not fit the padded image");
  const int64_t inputs = h * w * c, outputs = oh * ow * o;
  at::Tensor map, rep_bias;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    State& s = *state_;
    const std::array<int64_t, 6> shape{h, w, stride, padding, oh, ow};
    if (!s.map.defined() || s.shape != shape || !s.weight.matches(weight) || !s.bias_source.matches(bias)) {
      // Convolving each unit image (one input value 1) gives one column of the map; in NHWC
      // order on both sides, so that an image's memory is a row of inputs and its result a row
      // of outputs. Each entry is a single weight times 1 plus exact zeros.
      const at::Tensor basis = at::eye(inputs, x.options().memory_format(at::MemoryFormat::Contiguous))
                                   .view({inputs, h, w, c})
                                   .permute({0, 3, 1, 2});
      const at::Tensor columns = at::conv2d(basis, weight.contiguous(), {}, stride, padding);  // [inputs, O, oh, ow]
      s.map = columns.permute({2, 3, 1, 0}).reshape({outputs, inputs}).contiguous().view({outputs, inputs, 1, 1});
      s.bias = bias.defined() ? bias.to(at::kFloat).repeat({oh * ow}).contiguous() : at::Tensor();
      s.shape = shape;
      s.weight.set(weight);
      s.bias_source.set(bias);
    }
    map = s.map;
    rep_bias = s.bias;
  }
  // The images' rows [N, inputs] as the NHWC image [1, inputs, N, 1] a 1x1 convolution reads.
  const at::Tensor rows = x.permute({0, 2, 3, 1}).reshape({n, inputs}).contiguous();
  const at::Tensor image = rows.as_strided({1, inputs, n, 1}, {n * inputs, 1, inputs, inputs});
  const at::Tensor y = state_->gemm.forward(image, map, rep_bias, 1, 0);  // NHWC [1, outputs, N, 1]
  return y.as_strided({n, oh, ow, o}, {outputs, ow * o, o, 1}).permute({0, 3, 1, 2});
}

int64_t SmallImageConv::map_bytes() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->map.defined() ? int64_t(state_->map.nbytes()) : 0;
}

}  // namespace difss::conv
