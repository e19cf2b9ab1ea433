// BAM (Lang et al., "Learning What Not to Segment", CVPR 2022), native LibTorch port of
// chunbolang/BAM model/BAM.py (eval mode), on the PSPNet trunk (pspnet_trunk.hpp). The same
// network is DifFSS-BAM (TrinitialChan/DifFSS-BAM: identical model code, trained with shot = 5,
// 1 real + 4 auxiliary supports).
//
// Module names are the official state dict's (layer0..4, learner_base, down_query, down_supp,
// init_merge, ASPP_meta, res1_meta, res2_meta, cls_meta, gram_merge, cls_merge, kshot_rw), so the
// published checkpoints ({'epoch', 'state_dict', 'optimizer'}, with or without "module.") bind by
// name. The full checkpoint holds the PSPNet trunk too: PSPNet's best.pth and resnet50_v2.pth,
// which the official constructor reads before the checkpoint overwrites them, are not needed.
//
// Differences from the official code, on purpose (same numbers up to float rounding):
//  - the query and the K supports go through layer0..layer3 as one batch, and through layer4
//    as one batch (query unmasked, supports masked);
//  - no autograd bookkeeping.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include <difss/fss/named_tensors.hpp>
#include <difss/fss/pspnet_trunk.hpp>

namespace difss::fss {

// ASPP of model/ASPP.py: global-pool branch + 1x1 + three dilated (6, 12, 18) 3x3 branches, each
// conv (with bias) + ReLU, concatenated -> 5 * C channels.
struct ASPP {
  std::array<Conv2d, 5> branch;  // layer6_0 .. layer6_4
  ASPP(int64_t channels, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;
  void collect(std::vector<NamedTensor>& out, const std::string& prefix);
};

// What one forward computed, for the parity tests (filled when a trace is passed).
struct BAMTrace {
  at::Tensor query_layer4, support_layer4;  // [B, 2048, s, s], [B*K, 2048, s, s] (support masked)
  at::Tensor query_feat, support_feat;      // down_query / down_supp outputs, [B, 256, s, s], [B*K, ...]
  at::Tensor est_shots;                     // [B, K]: Gram distance of each shot
  at::Tensor weight_soft;                   // [B, K]: the shots' weights (ones for one shot)
  at::Tensor est_val;                       // [B]: weighted Gram distance
  at::Tensor prior;                         // [B, 1, s, s]: weighted prior mask
  at::Tensor prototype;                     // [B, 256, 1, 1]: weighted support prototype
  at::Tensor merge_feat;                    // init_merge output [B, 256, s, s]
  at::Tensor base_logits, meta_logits;      // [B, classes, s, s], [B, 2, s, s]
  at::Tensor final_feat;                    // [B, 2, s, s]: the ensemble before upsampling
};

struct BAMOutput {
  at::Tensor final_out, meta_out, base_out;  // at (S - 1) / 8 * 8 + 1 (zoom_factor 8), as the official forward
};

// BAM's learner-ensemble and K-shot heads, shared with HDMNet: gram_merge, cls_merge (1x1 convs
// 2 -> 1, initialised [1, 0]) and kshot_rw (when shots > 1: conv shots -> dim, ReLU, conv dim ->
// shots; or one conv shots -> shots initialised 1/shots when dim = 0).
struct EnsembleHeads {
  int64_t shots = 1, kshot_dim = 2;
  Conv2d gram_merge, cls_merge, kshot_a, kshot_b;
  EnsembleHeads() = default;
  EnsembleHeads(int64_t shots, int64_t kshot_dim, at::Device device);
  // Weights [B, K, 1, 1] of the shots from their Gram distances est_total [B, K, 1, 1] (ones for
  // one shot): kshot_rw on the distances sorted ascending, softmax over K. scatter_back: gathered
  // back to shot order (BAM); false keeps them in sorted order against the shots' input order
  // (HDMNet's idx3 quirk).
  at::Tensor shot_weights(const at::Tensor& est_total, bool scatter_back) const;
  // meta logits [B, 2, h, w], base logits [B, classes, h, w], weighted Gram distance est_val
  // [B, 1, 1, 1] -> final [B, 2, h, w] = cat(cls_merge(gram_merge(meta bg, est), summed base-class
  // probabilities), gram_merge(meta fg, est)).
  at::Tensor ensemble(const at::Tensor& meta_out, const at::Tensor& base_out, const at::Tensor& est_val) const;
  void collect(std::vector<NamedTensor>& out);  // gram_merge, cls_merge, kshot_rw.*
};

class BAM {
 public:
  // shots: the K the model was trained for (kshot_rw exists when K > 1, with kshot_trans_dim
  // hidden channels; 0 = the single 1x1 conv variant). classes: 16 PASCAL, 61 COCO. device
  // at::kMeta: the parameter table only (shapes, nothing allocated).
  explicit BAM(int64_t shots = 1, int64_t classes = 16, int64_t kshot_trans_dim = 2, at::Device device = at::kCPU);

  // query: normalised [B, 3, S, S]; supports [B, K, 3, S, S]; support_masks [B, K, S, S]
  // (value 1 = foreground; anything else, e.g. 255 padding, is background). K must equal shots().
  BAMOutput forward(const at::Tensor& query, const at::Tensor& supports, const at::Tensor& support_masks,
                    BAMTrace* trace = nullptr) const;

  int64_t shots() const { return shots_; }
  int64_t classes() const { return trunk_.classes(); }
  PSPNetTrunk& trunk() { return trunk_; }
  const PSPNetTrunk& trunk() const { return trunk_; }

  // The official state dict's keys (no "module."; num_batches_tracked excluded).
  std::vector<NamedTensor> named_tensors();
  // Moves the weights, stores conv weights channels-last and folds the trunk's BatchNorms for
  // inference (the engines call it after loading; call it again after changing the weights).
  void to(at::Device device, at::ScalarType dtype);

 private:
  int64_t shots_;
  PSPNetTrunk trunk_;
  Conv2d down_query_, down_supp_, init_merge_, res1_, res2a_, res2b_, cls_meta_a_, cls_meta_b_;
  ASPP aspp_;
  EnsembleHeads heads_;
};

}  // namespace difss::fss
