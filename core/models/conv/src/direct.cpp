// DirectConv: oneDNN's direct convolution on ATen tensors, in the caller's memory format.
#include <difss/conv/direct.hpp>

#include <ATen/ATen.h>
#include <ATen/record_function.h>

#include <stdexcept>
#include <string>
#include <unordered_map>

#include "conv_state.hpp"

namespace difss::conv {

struct DirectConv::State : ConvState {};

DirectConv::DirectConv() : state_(std::make_shared<State>()) {}

at::Tensor DirectConv::forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                               int64_t stride, int64_t padding) const {
  RECORD_FUNCTION("difss::direct_conv", std::vector<c10::IValue>({x, weight}));  // for --profile
  if (x.dim() != 4 || weight.dim() != 4 || x.size(1) != weight.size(1) || !x.device().is_cpu() ||
      !weight.device().is_cpu() || x.scalar_type() != at::kFloat || weight.scalar_type() != at::kFloat ||
      (bias.defined() && (bias.numel() != weight.size(0) || bias.scalar_type() != at::kFloat)) ||
      stride < 1 || padding < 0)
    throw std::runtime_error("DirectConv: expected float32 CPU x [N, C, H, W], weight [O, C, kh, kw], "
                             "bias [O], stride >= 1, padding >= 0; got x " + std::string(c10::str(x.sizes())) +
                             " " + std::string(c10::toString(x.scalar_type())) + ", weight " +
                             std::string(c10::str(weight.sizes())));
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), o = weight.size(0),
                kh = weight.size(2), kw = weight.size(3);
  const int64_t oh = (h + 2 * padding - kh) / stride + 1, ow = (w + 2 * padding - kw) / stride + 1;
  if (oh < 1 || ow < 1)
    throw std::runtime_error("DirectConv: a " + std::to_string(kh) + "x" + std::to_string(kw) +
                             " kernel does not fit " + std::to_string(h) + "x" + std::to_string(w) +
                             " inputs padded by " + std::to_string(padding));
  const ConvOperands ops = conv_operands(x, weight, bias, oh, ow);
  const bool channels_last = ops.channels_last;
  const at::Tensor &xin = ops.x, &wc = ops.weight, &bc = ops.bias, &out = ops.out;
  if (out.numel() == 0) return out;

  std::shared_ptr<const ConvPrimitive> primitive;
  std::shared_ptr<const ConvWeights> weights;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    primitive = state_->primitive(
        {n, c, h, w, o, kh, kw, stride, padding, (bc.defined() ? 1 : 0) + (channels_last ? 2 : 0)},
        [&] {
          const tag layout = channels_last ? tag::nhwc : tag::nchw;
          const dnnl::memory::desc src({n, c, h, w}, dt::f32, layout), dst({n, o, oh, ow}, dt::f32, layout),
              wei({o, c, kh, kw}, dt::f32, tag::any), b({o}, dt::f32, tag::x);
          const dnnl::memory::dims strides{stride, stride}, pad{padding, padding};
          const auto alg = dnnl::algorithm::convolution_direct;
          const auto prop = dnnl::prop_kind::forward_inference;
          auto d = bc.defined() ? dnnl::convolution_forward::desc(prop, alg, src, wei, b, dst, strides, pad, pad)
                                : dnnl::convolution_forward::desc(prop, alg, src, wei, dst, strides, pad, pad);
          dnnl::primitive_attr attr;
          attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
          return dnnl::convolution_forward::primitive_desc(d, attr, cpu_engine());
        },
        [&] {
          return "DirectConv: oneDNN cannot run a convolution of " + std::to_string(c) + " -> " +
                 std::to_string(o) + " channels, " + std::to_string(kh) + "x" + std::to_string(kw) +
                 " stride " + std::to_string(stride) + " on " + std::to_string(n) + " x " +
                 std::to_string(h) + " x " + std::to_string(w) + " inputs";
        });
    weights = state_->transformed(wc, primitive->pd.weights_desc());
  }

  dnnl::engine& engine = cpu_engine();
  dnnl::stream stream(engine);
  const at::Tensor scratch_buf = buffer(primitive->pd.scratchpad_desc().get_size());
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, rows_of(xin, channels_last, 0, h)},
      {DNNL_ARG_WEIGHTS, dnnl::memory(weights->desc, engine, weights->buffer.data_ptr())},
      {DNNL_ARG_DST, rows_of(out, channels_last, 0, oh)},
      {DNNL_ARG_SCRATCHPAD, dnnl::memory(primitive->pd.scratchpad_desc(), engine, scratch_buf.data_ptr())}};
  if (bc.defined()) args.emplace(DNNL_ARG_BIAS, dnnl::memory({{o}, dt::f32, tag::x}, engine, bc.data_ptr()));
  primitive->conv.execute(stream, args);
  stream.wait();
  return out;
}

int64_t DirectConv::weight_bytes() const { return state_->weight_bytes(); }

void DirectConv::release() const { state_->release(); }

}  // namespace difss::conv
