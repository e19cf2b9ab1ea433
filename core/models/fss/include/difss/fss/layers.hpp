// Building blocks of the FSS models as plain tensors (functional ATen, weights in structs, names
// collected as NamedTensor): 2D convolution, eval-mode BatchNorm, the ResNet bottleneck, LayerNorm
// and the linear layer.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include <difss/fss/named_tensors.hpp>

namespace difss::fss {

// A 2D convolution as plain tensors (bias optional).
struct Conv2d {
  at::Tensor weight, bias;
  int64_t stride = 1, padding = 0, dilation = 1;
  at::Tensor packed;  // `weight` reordered once for oneDNN (pack()); used when no gradient is recorded
  Conv2d() = default;
  // Zero weights (allocated with `options`: at::kMeta for shape-only models).
  Conv2d(int64_t in, int64_t out, int64_t kernel, bool with_bias, const at::TensorOptions& options,
         int64_t stride = 1, int64_t padding = 0, int64_t dilation = 1);
  at::Tensor operator()(const at::Tensor& x) const;
  // Reorders `weight` once into oneDNN's blocked layout, so that inference calls skip the per-call
  // weight reorder (float32/bfloat16 CPU weights, oneDNN available; false otherwise). Call again
  // after changing `weight`.
  bool pack();
  void collect(std::vector<NamedTensor>& out, const std::string& prefix);  // prefix.weight [, prefix.bias]
};

// BatchNorm2d in eval mode (eps 1e-5).
struct BatchNorm2d {
  at::Tensor weight, bias, running_mean, running_var;
  BatchNorm2d() = default;
  BatchNorm2d(int64_t channels, const at::TensorOptions& options);
  at::Tensor operator()(const at::Tensor& x) const;
  void collect(std::vector<NamedTensor>& out, const std::string& prefix);
};

// The convolution followed by an eval-mode BatchNorm as one convolution with bias:
// w' = w * s, b' = beta + (b - mean) * s, s = gamma / sqrt(var + eps) (weights' layout kept).
Conv2d fold_batchnorm(const Conv2d& conv, const BatchNorm2d& bn);

// Bottleneck of model/resnet.py (expansion 4).
struct Bottleneck {
  Conv2d conv1, conv2, conv3;
  BatchNorm2d bn1, bn2, bn3;
  bool has_downsample = false;
  Conv2d downsample;
  BatchNorm2d downsample_bn;
  bool bn_folded = false;  // the BatchNorms are folded into the convs (no BatchNorm tensors)
  at::Tensor forward(const at::Tensor& x) const;
  // A copy with every BatchNorm folded into its conv (inference only; not for loading weights).
  Bottleneck folded() const;
  void collect(std::vector<NamedTensor>& out, const std::string& prefix);
};

// LayerNorm over the last dimension.
struct LayerNorm {
  at::Tensor weight, bias;
  double eps = 1e-6;
  LayerNorm() = default;
  LayerNorm(int64_t dims, double eps, const at::TensorOptions& options);
  at::Tensor operator()(const at::Tensor& x) const;
  void collect(std::vector<NamedTensor>& out, const std::string& prefix);
};

// nn.Linear (bias optional): y = x W^T + b on the last dimension.
struct Linear {
  at::Tensor weight, bias;
  Linear() = default;
  // Zero weights [out, in] (allocated with `options`).
  Linear(int64_t in, int64_t out, bool with_bias, const at::TensorOptions& options);
  at::Tensor operator()(const at::Tensor& x) const;
  void collect(std::vector<NamedTensor>& out, const std::string& prefix);  // prefix.weight [, prefix.bias]
};

}  // namespace difss::fss
