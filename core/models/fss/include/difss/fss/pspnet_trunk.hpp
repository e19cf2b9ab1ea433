// The PSPNet trunk shared by BAM (chunbolang/BAM) and HDMNet (Pbihao/HDMNet), as the PFENet
// family builds it (model/PSPNet.py, model/resnet.py, model/PPM.py of those repositories):
//   layer0   ResNet "v2" deep stem: 3x3 convs 3->64 (stride 2), 64->64, 64->128, each with
//            BatchNorm + ReLU, then a 3x3 max pool (stride 2, padding 1);
//   layer1-4 ResNet-50 bottlenecks (stride on the 3x3 conv), layer3 and layer4 dilated (2 and 4,
//            stride 1, downsample stride 1): output stride 8;
//   ppm      pyramid pooling, bins 1, 2, 3, 6: adaptive average pool, 1x1 conv 2048->512,
//            BatchNorm, ReLU, bilinear (align_corners) upsampling, concatenated with the input;
//   cls      3x3 conv 4096->512, BatchNorm, ReLU, Dropout2d (identity at inference), 1x1 conv
//            512->classes (16 PASCAL-5i, 61 COCO-20i: the base classes and background).
// Eval-mode numerics only (BatchNorm with running statistics). Key names depend on the model
// that holds the trunk (PSPNetNames).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <string>
#include <vector>

#include <difss/fss/layers.hpp>
#include <difss/fss/named_tensors.hpp>
#include <difss/fss/resnet_v2.hpp>

namespace difss::fss {

// Where the trunk's tensors live in a checkpoint. The backbone is always layer0..layer4.
struct PSPNetNames {
  std::string ppm;         // "<ppm>.features.<i>.{1,2}.*"
  std::string cls_conv;    // 3x3 conv 4096->512
  std::string cls_bn;      // its BatchNorm
  std::string classifier;  // final 1x1 conv (weight, bias)

  static PSPNetNames pspnet();  // PSPNet's own best.pth: ppm., cls.0, cls.1, cls.4
  static PSPNetNames bam();     // BAM: learner_base.0 (ppm), learner_base.1.{0,1,4}
  static PSPNetNames hdmnet();  // HDMNet: ppm., cls.{0,1}, base_learnear.2
};

class PSPNetTrunk {
 public:
  // classes: outputs of the base learner (16 PASCAL, 61 COCO); blocks: ResNet-50 {3, 4, 6, 3},
  // ResNet-101 {3, 4, 23, 3}. Weights are allocated (zeros; BatchNorm ones) with their shapes on
  // `device` (at::kMeta: shapes only, nothing allocated).
  explicit PSPNetTrunk(int64_t classes = 16, std::array<int, 4> blocks = {3, 4, 6, 3}, at::Device device = at::kCPU);

  // Backbone stages on a normalised batch [B, 3, H, W].
  at::Tensor layer0(const at::Tensor& x) const;
  at::Tensor layer(int index, const at::Tensor& x) const;  // index 1..4
  // layer(4, x) where only the outputs at `mask` != 0 are needed ([N, C, h, w] and [N, 1, h, w]):
  // each image is cut to the mask's bounding box widened by layer4's reach (12), which gives those
  // outputs exactly; the rest of the result is 0 (not the official values there).
  at::Tensor layer4_inside(const at::Tensor& x, const at::Tensor& mask) const;

  // The base learner's head: PPM, then the classifier's first three modules (conv, BN, ReLU):
  // [B, 512, h, w]. HDMNet takes the pre-ReLU features (cls_features(x, false)).
  at::Tensor cls_features(const at::Tensor& layer4_out, bool relu = true) const;
  // The base learner's logits [B, classes, h, w] (PPM + cls).
  at::Tensor base_logits(const at::Tensor& layer4_out) const;
  // Only the classifier's final 1x1 conv (on cls_features after ReLU).
  at::Tensor classify(const at::Tensor& cls_feats) const;

  int64_t classes() const { return classes_; }
  // Backbone tensors ("layer0.0.weight", "layer1.0.conv1.weight", ...) and the head's, named
  // by `names`.
  std::vector<NamedTensor> named_tensors(const PSPNetNames& names);
  std::vector<NamedTensor> backbone_tensors();
  void to(at::Device device, at::ScalarType dtype);
  // From now on the backbone runs with its BatchNorms folded into its convs
  // (DeepStemResNet::fold_batchnorm); call again after loading or converting the weights.
  void fold_batchnorm() { body_.fold_batchnorm(); }

 private:
  int64_t classes_;
  DeepStemResNet body_;
  std::array<Conv2d, 4> ppm_conv_;
  std::array<BatchNorm2d, 4> ppm_bn_;
  Conv2d cls_conv_, classifier_;
  BatchNorm2d cls_bn_;
};

// Weighted_GAP of the PFENet family: the mask-weighted average of feat [B, C, h, w] with mask
// [B, 1, h, w] -> [B, C, 1, 1] (area + 0.0005 in the denominator).
at::Tensor weighted_gap(const at::Tensor& feat, const at::Tensor& mask);

// get_gram_matrix: cosine Gram matrix of the channels of feat [B, C, h, w] -> [B, C, C].
at::Tensor gram_matrix(const at::Tensor& feat);

// ||gram(query) - gram(support)||_F / C per batch item -> [B] (BAM's "est_val" of one shot).
at::Tensor gram_distance(const at::Tensor& query_gram, const at::Tensor& support_feat);

// The training-free prior of PFENet/BAM: for every query position the maximum cosine similarity
// to the (masked) support features, min-max normalised over the query when `normalise`.
// query, support: [B, C, s, s] (square, as the official code assumes); support_mask: [B, 1, s, s]
// already at the feature size. Returns [B, 1, s, s].
at::Tensor prior_mask(const at::Tensor& query, const at::Tensor& support, const at::Tensor& support_mask,
                      bool normalise = true);

// F.interpolate(x, size, mode='bilinear', align_corners=True).
at::Tensor resize_bilinear_ac(const at::Tensor& x, int64_t h, int64_t w);

}  // namespace difss::fss
