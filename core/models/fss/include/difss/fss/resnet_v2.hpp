// The ResNet "v2" of the PFENet family (PFENet, BAM, HDMNet, CyCTR; initmodel/resnet50_v2.pth):
// a deep stem of three 3x3 convs (3->64 stride 2, 64->64, 64->128), each with BatchNorm + ReLU,
// then a 3x3 max pool (stride 2, padding 1), and four stages of bottlenecks (expansion 4, stride
// on the 3x3 conv) with layer3 / layer4 dilated (output stride 8). Two dilation rules exist:
//   pspnet       PSPNet.py's: every conv2 of layer3 / layer4 gets dilation = padding 2 / 4;
//   torchvision  resnet.py's replace_stride_with_dilation (CyCTR, dilation (False, True, True)):
//                the FIRST block of a dilated stage keeps the previous stage's dilation (1 in
//                layer3, 2 in layer4), the others get 2 / 4.
// In both the downsample conv of layer3 / layer4 has stride 1. Eval-mode BatchNorm (CyCTR's
// FrozenBatchNorm2d computes the same affine map).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <string>
#include <vector>

#include <difss/fss/named_tensors.hpp>
#include <difss/fss/layers.hpp>

namespace difss::fss {

enum class DilationRule { pspnet, torchvision };

// How the stem's six tensors are named: PSPNet's layer0 Sequential ("layer0.0", "layer0.1",
// "layer0.3", ...) or resnet.py's attributes ("conv1", "bn1", "conv2", ...).
enum class StemNames { sequential, attributes };

class DeepStemResNet {
 public:
  DeepStemResNet() = default;
  // blocks: ResNet-50 {3, 4, 6, 3}, ResNet-101 {3, 4, 23, 3}. Zero weights (BatchNorm identity)
  // allocated with `options` (at::kMeta: shapes only).
  DeepStemResNet(std::array<int, 4> blocks, DilationRule rule, const at::TensorOptions& options);

  at::Tensor stem(const at::Tensor& x) const;              // [B, 3, H, W] -> [B, 128, H/4, W/4]
  at::Tensor layer(int index, const at::Tensor& x) const;  // index 1..4
  // How far (in input pixels of the stage) an output of stage `index` sees: the sum of its 3x3
  // convs' dilations (stride-1 stages only; the PSPNet rule's layer4: 3 x 4 = 12).
  int64_t reach(int index) const;

  // prefix + the stem's names + "layer<s>.<b>.*" (prefix "" or ending in ".").
  void collect(std::vector<NamedTensor>& out, const std::string& prefix, StemNames names);

  // From now on the forward runs a copy with every BatchNorm folded into its conv (the same
  // affine map up to float rounding, one pass less per layer: about 20 % of the CPU time in
  // channels-last layout). The named tensors keep the unfolded weights; call it again after
  // loading or converting them.
  void fold_batchnorm();

 private:
  Conv2d stem_conv_[3];
  BatchNorm2d stem_bn_[3];
  std::array<std::vector<Bottleneck>, 4> stages_;
  bool folded_ = false;
  Conv2d folded_stem_[3];
  std::array<std::vector<Bottleneck>, 4> folded_stages_;
};

}  // namespace difss::fss
