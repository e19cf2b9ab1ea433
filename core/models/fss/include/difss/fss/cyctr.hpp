// CyCTR (Zhang et al., "Few-Shot Segmentation via Cycle-Consistent Transformer", NeurIPS 2021),
// native LibTorch port of YanFangCS/CyCTR-Pytorch @ 1a06183 model/CyCTR.py (eval mode,
// with_transformer = True, trans_multi_lvl = 1, classes = 2):
//   backbone   ResNet-50 v2 (deep stem) with FrozenBatchNorm and torchvision's dilation
//              (False, True, True) (resnet_v2.hpp), names backbone.body.*;
//   features   cat(layer2, layer3) -> adjust_feature_qry / adjust_feature_supp (1x1, ReLU);
//   prototype  masked GAP of each shot's features (mask bilinear, align_corners), averaged over K;
//   prior      PFENet's (layer4, max cosine similarity, min-max normalised), averaged over K;
//   merge      qry_merge_feat(query, prototype, prior); supp_merge_feat(support, its own GAP);
//   transformer  CyCTransformer (cyctr_transformer.hpp), then merge_multi_lvl_reduce,
//              merge_multi_lvl_sum (residual) and cls; logits upsampled to the input size.
// K shots as the official code: each shot's tokens are concatenated (in the order given) before
// the sparse sampling; prototypes and priors averaged. The training-only heads of the state dict
// (addtional_proj, pred_supp_qry_proj, supp_init_merge, supp_beta_conv, supp_cls) are not built;
// training_only_prefixes() lists them for the loader to ignore.
// Differences on purpose (same numbers up to float rounding): the query and the supports go
// through the backbone as one batch, in channels-last layout, with its BatchNorms folded into the
// convolutions (after to()); the prior's similarity is computed only for the support
// positions the (bilinear) mask leaves non-zero (the others are exactly 0 in the official code).
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include <difss/fss/cyctr_transformer.hpp>
#include <difss/fss/layers.hpp>
#include <difss/fss/named_tensors.hpp>
#include <difss/fss/resnet_v2.hpp>

namespace difss::fss {

// What one forward computed, for the parity tests (filled when a trace is passed).
struct CyCTRTrace {
  at::Tensor query_layer4;    // [B, 2048, h, w]
  at::Tensor query_feat;      // adjust_feature_qry output [B, C, h, w]
  at::Tensor support_feat;    // adjust_feature_supp output [B*K, C, h, w]
  at::Tensor prototype;       // [B, C, 1, 1]: averaged masked GAP
  at::Tensor prior;           // [B, 1, h, w]
  at::Tensor merged_query;    // qry_merge_feat output
  at::Tensor merged_support;  // supp_merge_feat output [B*K, C, h, w]
  at::Tensor transformer_out; // [B, C, h, w]
  at::Tensor logits_at_feat;  // cls output [B, 2, h, w]
  CyCTransformerTrace transformer;
};

class CyCTR {
 public:
  // shots: K; dims: reduce_dim (hidden_dims 256 in the published configs); per_shot: sparse
  // sample size of each kind per shot (300). device at::kMeta: the parameter table only.
  explicit CyCTR(int64_t shots = 1, int64_t dims = 256, at::Device device = at::kCPU, int64_t per_shot = 300);

  // x [B, 3, S, S] normalised; s_x [B, K, 3, S, S]; s_y [B, K, S, S] (1 = object, 255 = ignore);
  // padding [B, S, S] (255 = letterbox padding); s_padding [B, K, S, S] (255 = padding or
  // ignore). S = 8k + 1. Returns the logits [B, 2, S, S]. The sparse sampling draws from
  // `generator` (a CPU generator).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& s_x, const at::Tensor& s_y, const at::Tensor& padding,
                     const at::Tensor& s_padding, at::Generator generator, CyCTRTrace* trace = nullptr) const;

  int64_t shots() const { return shots_; }
  CyCTransformer& transformer() { return transformer_; }

  // The official state dict's keys (no "module."), inference tensors only.
  std::vector<NamedTensor> named_tensors();
  // State-dict prefixes of the training-only heads (ignored when loading).
  static std::vector<std::string> training_only_prefixes();
  // Moves / converts the weights (conv weights channels-last) and folds the backbone's
  // BatchNorms into its convs for the forward: call after loading the weights.
  void to(at::Device device, at::ScalarType dtype);

 private:
  int64_t shots_, dims_;
  DeepStemResNet backbone_;
  Conv2d adjust_supp_, adjust_qry_, qry_merge_, supp_merge_, lvl_reduce_, lvl_sum_a_, lvl_sum_b_, cls_a_, cls_b_;
  CyCTransformer transformer_;
};

}  // namespace difss::fss
