// HSNet (Min, Kang, Cho, "Hypercorrelation Squeeze for Few-Shot Segmentation", ICCV 2021),
// native LibTorch port of juhongm999/hsnet (model/hsnet.py, model/learner.py,
// model/base/{feature,correlation,conv4d}.py). Same module names as the official state dict
// ("backbone.*", "hpn_learner.*"), same numerics (verified against the official code, see
// plugins/segmenter/hsnet/tests).
//
// Differences from the official code, on purpose:
//  - center-pivot 4D convolutions compute their pruning indices on every call (the official
//    CenterPivotConv4d caches them on first use and then fails when the input size changes);
//  - K-shot prediction extracts the query's features once instead of once per shot (same numbers).
#pragma once

#include <difss/conv/direct.hpp>
#include <difss/conv/small_image.hpp>
#include <difss/conv/winograd.hpp>
#include <ATen/core/Tensor.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <difss/fss/backbone.hpp>
#include <difss/fss/named_tensors.hpp>

namespace difss::fss {

// HSNet's 4D layers: CenterPivotConv4d (two 2D convolutions, one over the query dims (ha, wa)
// on the support-pruned tensor and one over the support dims (hb, wb)), GroupNorm(4), ReLU.
struct CenterPivotConv4d {
  at::Tensor w1, b1, w2, b2;  // conv1: over (ha, wa), stride 1; conv2: over (hb, wb), stride s
  int64_t kernel = 3, stride = 1;
  // conv1 through oneDNN's Winograd kernels where difss::conv::winograd_wanted() says so (fp32 CPU
  // inference, kernel 3: the 64- and 128-channel convolutions over the 25x25 and 50x50 query dims).
  conv::WinogradConv winograd1;
  // The other inference convolutions of both branches through oneDNN directly (cached primitives,
  // weights reordered once; 1.2-2.1x ATen's call on these many tiny images).
  conv::DirectConv direct1, direct2;
  // conv2 on support images smaller than its kernel (2x2 under 3x3) as one dense matrix product.
  conv::SmallImageConv dense2;
  // x: [B, C, ha, wa, hb, wb] -> [B, O, ha, wa, ceil(hb/s), ceil(wb/s)]
  at::Tensor forward(const at::Tensor& x) const;
};

struct Conv4dBlock {  // one "building block" of HPNLearner: 3 x (Conv4d, GroupNorm(4), ReLU)
  std::vector<CenterPivotConv4d> convs;
  std::vector<at::Tensor> gn_weight, gn_bias;
  at::Tensor forward(at::Tensor x) const;
};

struct HPNLearner {
  Conv4dBlock encoder_layer4, encoder_layer3, encoder_layer2, encoder_layer4to3, encoder_layer3to2;
  at::Tensor dec1_w0, dec1_b0, dec1_w2, dec1_b2;  // decoder1.{0,2}
  at::Tensor dec2_w0, dec2_b0, dec2_w2, dec2_b2;  // decoder2.{0,2}
  conv::WinogradConv dec2_winograd0;  // decoder2.0 (64 channels at twice the level-2 query size)

  // inch: hypercorrelation channels per level, coarsest first (Backbone::level_counts()).
  explicit HPNLearner(const std::array<int64_t, 3>& inch);
  // pyramid: {corr_l4, corr_l3, corr_l2}, each [B, n_l, ha, wa, hb, wb] -> logits [B, 2, h, w]
  // with h = w = 2 * (level-2 query width) (HSNet's decoder upsamples to a square of twice the
  // width).
  at::Tensor forward(const std::vector<at::Tensor>& pyramid) const;
  std::vector<NamedTensor> named_tensors();  // names without "hpn_learner."
};

class HSNet {
 public:
  explicit HSNet(std::unique_ptr<Backbone> backbone);
  // "resnet50", "resnet101", "vgg16" (or any make_backbone name).
  explicit HSNet(const std::string& backbone_name);

  // Logits [B, 2, h, w] at the decoder's resolution (1/4 of the input for ResNets) for one
  // support per batch item. query, support: normalised [B, 3, H, W]; support_mask: [B, H, W]
  // (1 = foreground, 0 = else). Differentiable w.r.t. the learner's tensors (no grad guard
  // inside; the backbone's features only need grad when its weights require it).
  at::Tensor forward(const at::Tensor& query, const at::Tensor& support,
                     const at::Tensor& support_mask) const;

  // The same, split so that K-shot inference extracts the query's features once.
  std::vector<at::Tensor> features(const at::Tensor& image) const;
  at::Tensor forward_features(const std::vector<at::Tensor>& query_feats,
                              std::vector<at::Tensor> support_feats,
                              const at::Tensor& support_mask) const;

  // "backbone.<torchvision name>" and "hpn_learner.<name>": HSNet's state dict keys (without
  // DataParallel's "module." prefix; the classifier head and num_batches_tracked excluded).
  std::vector<NamedTensor> named_tensors();
  std::vector<NamedTensor> learner_tensors();  // "hpn_learner.*" only (what HSNet trains)
  // Classifier-head prefixes of the official state dict that are ignored when loading.
  std::vector<std::string> unused_prefixes() const;

  Backbone& backbone() { return *backbone_; }
  const Backbone& backbone() const { return *backbone_; }
  HPNLearner& learner() { return learner_; }
  void to(at::Device device, at::ScalarType dtype);

 private:
  std::unique_ptr<Backbone> backbone_;
  HPNLearner learner_;
};

// HSNet's Correlation.multilayer_correlation: cosine correlations of every query/support
// feature pair, clamped at 0, stacked per level -> {corr_l4, corr_l3, corr_l2}.
std::vector<at::Tensor> multilayer_correlation(const std::vector<at::Tensor>& query_feats,
                                               const std::vector<at::Tensor>& support_feats,
                                               const std::array<int64_t, 3>& level_counts);

// Bilinear (align_corners=True) resize of logits [B, 2, h, w] to `size`, as HSNet's evaluation.
at::Tensor upsample_logits(const at::Tensor& logits, std::array<int64_t, 2> size);

// HSNet's training objective: cross-entropy of logits [B, 2, H, W] against a 0/1 mask [B, H, W].
at::Tensor hsnet_loss(const at::Tensor& logits, const at::Tensor& gt_mask);

struct HSNetPrediction {
  at::Tensor prob;  // float32 [B, H, W]: see predict_nshot
  at::Tensor mask;  // uint8 [B, H, W], 0/1
};

// HSNet's predict_mask_nshot. Each shot's logits are resized to out_size (bilinear,
// align_corners=True). One shot: mask = argmax, prob = softmax foreground probability.
// K > 1 shots: each shot votes with its argmax; votes / max(1, largest vote count in the image)
// >= 0.5 -> foreground (exactly the official rule); prob = that vote fraction, so that
// mask == (prob >= 0.5) in both cases.
// query: [1, 3, H, W]; supports: [K, 3, H, W]; masks: [K, H, W].
// `weights` (empty, or K values > 0): a weighted vote, each shot's argmax counting its weight
// (difss's aux weighting; not HSNet's). Empty or all 1: the official vote, bit for bit.
HSNetPrediction predict_nshot(const HSNet& net, const at::Tensor& query, const at::Tensor& supports,
                              const at::Tensor& masks, std::array<int64_t, 2> out_size,
                              const std::vector<double>& weights = {});
// The same from the K shots' decoder logits (each [B, 2, h, w]).
HSNetPrediction predict_from_logits(const std::vector<at::Tensor>& shot_logits, std::array<int64_t, 2> out_size,
                                    const std::vector<double>& weights = {});

}  // namespace difss::fss
