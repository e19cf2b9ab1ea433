// HDMNet (Peng et al., "Hierarchical Dense Correlation Distillation for Few-Shot Segmentation",
// CVPR 2023), native LibTorch port of Pbihao/HDMNet model/HDMNet.py, Transformer.py and
// MaskMultiheadAttention.py (eval mode) on the PSPNet trunk (pspnet_trunk.hpp). The mmcv/mmseg
// blocks it uses are re-implemented here: mmseg PatchEmbed (conv + LayerNorm, integer padding),
// mmcv ConvModule (conv without bias, BatchNorm, ReLU; SyncBN = BatchNorm at inference), DropPath
// and dropout as identities.
//
// What the official code does and this port keeps:
//  - the support IMAGE is multiplied by its mask before the backbone, and the supports go through
//    PPM + cls too (their pre-ReLU 512-channel features give the second prior);
//  - two priors (layer4 and the cls features; max cosine similarity, not min-max normalised),
//    averaged over the shots, concatenated (x 10) into query_merge;
//  - the transformer: 3 stages of patch embedding + 2 encoder layers (spatial-reduction
//    self-attention, Mix-FFN) + LayerNorm; then, coarsest first, the matching layer
//    (cross-attention with L2-normalised Q/K, temperature 0.1, softmax over the QUERY axis,
//    attention of masked-out support positions zeroed), a ConvModule on [matched, prior], and
//    coarse-to-fine fusion (parse_layers), then cls;
//  - BAM's ensemble (gram_merge, cls_merge with the base learner's summed base-class
//    probabilities);
//  - the K-shot Gram quirk: HDMNet gathers kshot_rw's output with idx3 = idx1.gather(1, idx2),
//    which is the identity permutation, so the weights computed for the SORTED distances are
//    applied to the shots in their INPUT order (BAM scatters them back). Replicated as is.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <string>
#include <vector>

#include <difss/fss/bam.hpp>
#include <difss/fss/layers.hpp>
#include <difss/fss/named_tensors.hpp>
#include <difss/fss/pspnet_trunk.hpp>

namespace difss::fss {

// MaskMultiHeadAttention (linear_q/k/v/o without bias).
struct MaskAttention {
  at::Tensor wq, wk, wv, wo;
  int64_t heads = 1;
  MaskAttention() = default;
  MaskAttention(int64_t dims, int64_t heads, const at::TensorOptions& options);
  // q [B, Lq, C], kv [B, Lk, C]. cross: L2-normalised q/k, /0.1, softmax over Lq, attention of
  // support positions with support_mask [B, Lk] == 0 zeroed. Otherwise scaled dot product.
  at::Tensor forward(const at::Tensor& q, const at::Tensor& kv, const at::Tensor& support_mask, bool cross) const;
  void collect(std::vector<NamedTensor>& out, const std::string& prefix);
};

// mmseg/SegFormer TransformerEncoderLayer with HDMNet's attention.
struct EncoderLayer {
  LayerNorm norm1, norm2;
  int64_t sr_ratio = 1;
  Conv2d sr;
  LayerNorm sr_norm;
  MaskAttention attn;
  Conv2d fc1, pe_conv, fc2;  // Mix-FFN: 1x1, depthwise 3x3, GELU, 1x1
  EncoderLayer() = default;
  EncoderLayer(int64_t dims, int64_t heads, int64_t sr_ratio, const at::TensorOptions& options);
  // x [B, L, C] on an hw grid; source/support_mask for the matching (cross) layers.
  at::Tensor forward(const at::Tensor& x, std::array<int64_t, 2> hw, const at::Tensor& source = {},
                     const at::Tensor& support_mask = {}) const;
  void collect(std::vector<NamedTensor>& out, const std::string& prefix);
};

class HDMTransformer {
 public:
  explicit HDMTransformer(const at::TensorOptions& options);
  // query [B, 64, h, w]; support [B*K, 64, h, w]; mask [B*K, 1, H, W] (0/1, image size);
  // similarity [B, 2, h, w]. Returns the meta logits [B, 2, h, w].
  at::Tensor forward(const at::Tensor& query, const at::Tensor& support, const at::Tensor& mask,
                     const at::Tensor& similarity) const;
  void collect(std::vector<NamedTensor>& out, const std::string& prefix);

 private:
  struct Stage {
    Conv2d patch;
    LayerNorm patch_norm;
    EncoderLayer l1, l2;
    LayerNorm norm;
  };
  struct Match {
    EncoderLayer layer;
    Conv2d conv;
    BatchNorm2d bn;
  };
  struct Parse {
    Conv2d c0, c2, c4;
    BatchNorm2d b1, b3, b5;
  };
  std::array<Stage, 3> stages_;
  std::array<Match, 3> match_;
  std::array<Parse, 3> parse_;
  Conv2d cls0_, cls2_, cls4_;
  BatchNorm2d cls1_, cls3_;
};

// What one forward computed, for the parity tests (filled when a trace is passed).
struct HDMNetTrace {
  at::Tensor similarity;    // [B, 2, s, s]: the priors from the cls features and from layer4
  at::Tensor query_merged;  // query_merge output [B, 64, s, s] (the transformer's query input)
  at::Tensor meta_logits;   // the transformer's output [B, 2, s, s]
  at::Tensor base_logits;   // [B, classes, s, s]
  at::Tensor est_val;       // [B]: the weighted Gram distance
  at::Tensor weight_soft;   // [B, K]
};

struct HDMNetOutput {
  at::Tensor final_out, meta_out, base_out;  // at the input size, as the official forward
};

class HDMNet {
 public:
  // shots: the K the model was trained with (kshot_rw when K > 1); classes 16 PASCAL, 61 COCO.
  explicit HDMNet(int64_t shots = 1, int64_t classes = 16, int64_t kshot_trans_dim = 2, at::Device device = at::kCPU);
  // query [B, 3, S, S] normalised; supports [B, K, 3, S, S]; support_masks [B, K, S, S] (1 = object).
  HDMNetOutput forward(const at::Tensor& query, const at::Tensor& supports, const at::Tensor& support_masks,
                       HDMNetTrace* trace = nullptr) const;
  int64_t shots() const { return shots_; }
  std::vector<NamedTensor> named_tensors();  // the official state dict keys (no "module.")
  // Moves the weights, stores conv weights channels-last and folds the trunk's BatchNorms for
  // inference (the engines call it after loading; call it again after changing the weights).
  void to(at::Device device, at::ScalarType dtype);

 private:
  int64_t shots_;
  PSPNetTrunk trunk_;
  Conv2d down_query_, down_supp_, query_merge_, supp_merge_;
  HDMTransformer transformer_;
  EnsembleHeads heads_;
};

}  // namespace difss::fss
