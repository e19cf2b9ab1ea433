// ImageNet backbones for the FSS segmenters, as plain tensors + functional ATen, with
// torchvision's module layout and key names (so torchvision .pth files and the backbone part of
// HSNet checkpoints load by name):
//   ResNet (v1.5: stride on the 3x3 conv of a bottleneck), any depth/width: resnet18/34/50/101
//   presets, or a custom ResNetConfig (e.g. a narrow ResNet-18 for a tiny model).
//   VGG-16 (features only; torchvision "features.N" names).
// Inference uses BatchNorm's running statistics (eval mode), as HSNet keeps its backbone frozen.
// Nothing here disables autograd: features are differentiable w.r.t. the input and, when a caller
// sets requires_grad on them, the weights.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <difss/fss/named_tensors.hpp>

namespace difss::fss {

class Backbone {
 public:
  virtual ~Backbone() = default;
  virtual std::string name() const = 0;

  // HSNet's hypercolumn of a normalised batch [B,3,H,W]: the features HSNet correlates, finest
  // first. ResNet: every block output of layer2..layer4 BEFORE its final ReLU (HSNet's
  // extract_feat_res); VGG-16: outputs of features.{17,19,21,24,26,28,30} (conv4_x and conv5_x
  // before their ReLU, and pool5), as HSNet's extract_feat_vgg.
  virtual std::vector<at::Tensor> hypercolumn(const at::Tensor& x) const = 0;
  // How many hypercolumn features form each of HSNet's three pyramid levels, coarsest first
  // (ResNet-50: {3, 6, 4}; ResNet-101: {3, 23, 4}; VGG-16: {1, 3, 3}).
  virtual std::array<int64_t, 3> level_counts() const = 0;

  // Every residual block's output BEFORE its final ReLU, stages 1 to 4, finest first (DCAMA's
  // extract_feats). ResNets only: the default throws std::logic_error.
  virtual std::vector<at::Tensor> block_outputs(const at::Tensor& x) const;

  // Named intermediate outputs (for the prototype segmenter). ResNet: "stem" (after the max
  // pool), "layer1".."layer4" (stage outputs), "layerN.i" (output of block i of stage N); all
  // after ReLU. VGG-16: "features.N" (output of module N). Unknown names throw, listing tap_names().
  virtual std::vector<at::Tensor> taps(const at::Tensor& x, const std::vector<std::string>& names) const = 0;
  virtual std::vector<std::string> tap_names() const = 0;

  // The weights with torchvision names (no prefix), e.g. "layer1.0.conv1.weight".
  virtual std::vector<NamedTensor> named_tensors() = 0;
  // Names of torchvision tensors that exist in a classifier checkpoint but that the segmenters do
  // not use (the classifier head): "fc." (ResNet), "classifier." (VGG).
  virtual std::vector<std::string> unused_prefixes() const = 0;

  // Moves/casts every weight (e.g. to at::kCUDA, at::kBFloat16); folded copies are rebuilt (or
  // dropped where folding does not apply).
  void to(at::Device device, at::ScalarType dtype);

  // Inference copies with each BatchNorm folded into its convolution and the weights reordered
  // once for oneDNN; without a gradient on the CPU, the forwards then run them (NCHW in and out,
  // as before). Rounding differs from the unfolded computation (~1e-6 relative on features);
  // training always runs the unfolded weights. Float32 CPU weights only (others run unfolded;
  // to() folds again when it moves them there). Returns how many convolutions were folded (0:
  // none, or not float32 on the CPU). unfold() returns to the official computation. The copies
  // are taken now: after changing weights in place, call fold_for_inference() again.
  virtual int fold_for_inference() { return 0; }
  virtual void unfold() {}

 protected:
  virtual void weights_changed() {}
};

struct ResNetConfig {
  enum class Block { basic, bottleneck };
  std::string name = "resnet50";
  Block block = Block::bottleneck;
  std::array<int, 4> layers{3, 4, 6, 3};  // blocks per stage
  int64_t width = 64;                      // channels of the stem and of stage 1's 3x3 convs

  static ResNetConfig resnet18();
  static ResNetConfig resnet34();
  static ResNetConfig resnet50();
  static ResNetConfig resnet101();
};

// Weights are allocated (zeros; BatchNorm scales and variances ones) with their final shapes;
// load them with load_into (fss/checkpoint.hpp) or deterministic_init.
std::unique_ptr<Backbone> make_resnet(const ResNetConfig& config);
std::unique_ptr<Backbone> make_vgg16();
// "resnet18", "resnet34", "resnet50", "resnet101" or "vgg16"; throws std::invalid_argument otherwise.
std::unique_ptr<Backbone> make_backbone(const std::string& name);

}  // namespace difss::fss
