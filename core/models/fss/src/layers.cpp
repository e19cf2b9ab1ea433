// Building blocks of the FSS models (layers.hpp).
#include <difss/fss/layers.hpp>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

namespace difss::fss {

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, bool with_bias, const at::TensorOptions& o, int64_t stride_,
               int64_t padding_, int64_t dilation_)
    : weight(at::zeros({out, in, kernel, kernel}, o)), stride(stride_), padding(padding_), dilation(dilation_) {
  if (with_bias) bias = at::zeros({out}, o);
}

at::Tensor Conv2d::operator()(const at::Tensor& x) const {
  if (packed.defined() && !at::GradMode::is_enabled() && x.device().is_cpu() && x.scalar_type() == weight.scalar_type())
    return at::mkldnn_convolution(x, packed, bias, {padding, padding}, {stride, stride}, {dilation, dilation}, 1);
  return at::conv2d(x, weight, bias, {stride, stride}, {padding, padding}, {dilation, dilation});
}

bool Conv2d::pack() {
  packed = at::Tensor();
  if (!at::hasMKLDNN() || !weight.defined() || !weight.device().is_cpu() ||
      (weight.scalar_type() != at::kFloat && weight.scalar_type() != at::kBFloat16))
    return false;
  packed = at::mkldnn_reorder_conv2d_weight(weight.contiguous().to_mkldnn(), {padding, padding}, {stride, stride},
                                            {dilation, dilation}, 1);
  return true;
}

void Conv2d::collect(std::vector<NamedTensor>& out, const std::string& p) {
  out.push_back({p + ".weight", &weight, true});
  if (bias.defined()) out.push_back({p + ".bias", &bias, true});
}

BatchNorm2d::BatchNorm2d(int64_t c, const at::TensorOptions& o)
    : weight(at::ones({c}, o)), bias(at::zeros({c}, o)), running_mean(at::zeros({c}, o)), running_var(at::ones({c}, o)) {}

at::Tensor BatchNorm2d::operator()(const at::Tensor& x) const {
  return at::batch_norm(x, weight, bias, running_mean, running_var, /*training=*/false, /*momentum=*/0.1,
                        /*eps=*/1e-5, /*cudnn_enabled=*/true);
}

void BatchNorm2d::collect(std::vector<NamedTensor>& out, const std::string& p) {
  out.push_back({p + ".weight", &weight, true});
  out.push_back({p + ".bias", &bias, true});
  out.push_back({p + ".running_mean", &running_mean, false});
  out.push_back({p + ".running_var", &running_var, false});
}

Conv2d fold_batchnorm(const Conv2d& c, const BatchNorm2d& bn) {
  Conv2d f = c;
  at::Tensor s = bn.weight * (bn.running_var + 1e-5).rsqrt();
  f.weight = (c.weight * s.view({-1, 1, 1, 1})).contiguous(c.weight.suggest_memory_format());
  f.bias = c.bias.defined() ? bn.bias + (c.bias - bn.running_mean) * s : bn.bias - bn.running_mean * s;
  return f;
}

Bottleneck Bottleneck::folded() const {
  Bottleneck f;
  f.conv1 = fold_batchnorm(conv1, bn1);
  f.conv2 = fold_batchnorm(conv2, bn2);
  f.conv3 = fold_batchnorm(conv3, bn3);
  f.has_downsample = has_downsample;
  if (has_downsample) f.downsample = fold_batchnorm(downsample, downsample_bn);
  f.bn_folded = true;
  f.conv1.pack(), f.conv2.pack(), f.conv3.pack();
  if (has_downsample) f.downsample.pack();
  return f;
}

at::Tensor Bottleneck::forward(const at::Tensor& x) const {
  if (bn_folded) {
    at::Tensor y = conv2(conv1(x).relu_()).relu_();
    y = conv3(y);
    y.add_(has_downsample ? downsample(x) : x);
    return y.relu_();
  }
  // In place on fresh intermediates, as the official inplace ReLUs and `out += residual`.
  at::Tensor y = bn1(conv1(x)).relu_();
  y = bn2(conv2(y)).relu_();
  y = bn3(conv3(y));
  y.add_(has_downsample ? downsample_bn(downsample(x)) : x);
  return y.relu_();
}

void Bottleneck::collect(std::vector<NamedTensor>& out, const std::string& p) {
  conv1.collect(out, p + ".conv1");
  bn1.collect(out, p + ".bn1");
  conv2.collect(out, p + ".conv2");
  bn2.collect(out, p + ".bn2");
  conv3.collect(out, p + ".conv3");
  bn3.collect(out, p + ".bn3");
  if (has_downsample) {
    downsample.collect(out, p + ".downsample.0");
    downsample_bn.collect(out, p + ".downsample.1");
  }
}

LayerNorm::LayerNorm(int64_t dims, double eps_, const at::TensorOptions& o)
    : weight(at::ones({dims}, o)), bias(at::zeros({dims}, o)), eps(eps_) {}

at::Tensor LayerNorm::operator()(const at::Tensor& x) const { return at::layer_norm(x, {weight.size(0)}, weight, bias, eps); }

void LayerNorm::collect(std::vector<NamedTensor>& out, const std::string& p) {
  out.push_back({p + ".weight", &weight, true});
  out.push_back({p + ".bias", &bias, true});
}

Linear::Linear(int64_t in, int64_t out, bool with_bias, const at::TensorOptions& o) : weight(at::zeros({out, in}, o)) {
  if (with_bias) bias = at::zeros({out}, o);
}

at::Tensor Linear::operator()(const at::Tensor& x) const { return at::linear(x, weight, bias); }

void Linear::collect(std::vector<NamedTensor>& out, const std::string& p) {
  out.push_back({p + ".weight", &weight, true});
  if (bias.defined()) out.push_back({p + ".bias", &bias, true});
}

}  // namespace difss::fss
