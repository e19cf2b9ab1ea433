// DCAMA (Shi et al., "Dense Cross-Query-and-Support Attention Weighted Mask Aggregation for
// Few-Shot Segmentation", ECCV 2022), native LibTorch port of pawn-sxy/DCAMA (model/DCAMA.py,
// model/base/transformer.py, model/base/swin_transformer.py). Same module names as the official
// state dict ("feature_extractor.*", "model.*"), same numerics (verified against the official
// code, see plugins/segmenter/dcama/tests).
//
// Differences from the official code, on purpose:
//  - K shots: each query's keys/values are its own K supports' pixels, concatenated shot after
//    shot, for any batch size. The official DCAMA_model.forward stacks the shots' features as
//    [K, B, ...] and views them as [B, K*hw, ...], which interleaves the batch items' supports
//    when B > 1 (the official test runs B = 1, where both agree);
//  - the attention is computed in slices of query rows (same numbers, bounded memory), with the
//    1/sqrt(d_k) scale applied to the queries;
//  - mixer1's first convolution mixes the channels of the upsampled 1/8-scale part before
//    upsampling it (exact algebra, a quarter of those multiply-adds; see mixer1_first_conv);
//  - the positional encodings and Swin's derived buffers are computed, not loaded;
//  - the decoder upsamples to twice the height and twice the width (the official code takes
//    twice the width for both: the same for its square inputs).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <difss/fss/backbone.hpp>
#include <difss/fss/named_tensors.hpp>
#include <difss/fss/swin.hpp>

namespace difss::fss {

// DCAMA's feature extractor: every block's output of the four stages, finest first.
class DCAMAFeatures {
 public:
  virtual ~DCAMAFeatures() = default;
  virtual std::string name() const = 0;
  // x: normalised [B, 3, S, S] -> one [B, C_s, h_s, w_s] per block. ResNet: the bottleneck
  // outputs BEFORE their final ReLU (DCAMA's extract_feats); Swin: every block's output.
  virtual std::vector<at::Tensor> extract(const at::Tensor& x) const = 0;
  virtual std::array<int64_t, 4> depths() const = 0;    // blocks per stage
  virtual std::array<int64_t, 4> channels() const = 0;  // channels per stage
  // Official names without "feature_extractor.".
  virtual std::vector<NamedTensor> named_tensors() = 0;
  // Prefixes of an official backbone checkpoint the model does not use (classifier heads).
  virtual std::vector<std::string> unused_prefixes() const = 0;
  // Suffixes of derived buffers stored in official checkpoints and computed here.
  virtual std::vector<std::string> derived_suffixes() const { return {}; }
  virtual void to(at::Device device, at::ScalarType dtype) = 0;
};

// torchvision ResNet-50/-101 (timm's resnet50_a1h weights share the naming) or any ResNetConfig.
std::unique_ptr<DCAMAFeatures> make_dcama_resnet(const ResNetConfig& config);
std::unique_ptr<DCAMAFeatures> make_dcama_swin(const SwinConfig& config);
// "resnet50", "resnet101" or "swin-b" (Swin-B at `image_size`, window 12). Throws
// std::invalid_argument otherwise.
std::unique_ptr<DCAMAFeatures> make_dcama_features(const std::string& backbone, int64_t image_size = 384);
inline const std::vector<std::string>& dcama_backbones() {
  static const std::vector<std::string> names{"resnet50", "resnet101", "swin-b"};
  return names;
}

// DCAMA's sinusoidal positional encoding of the first n positions: [n, d] (rows of the official
// PositionalEncoding buffer, computed with the same float32 operations).
at::Tensor dcama_positional_encoding(int64_t n, int64_t d, at::TensorOptions options = {});

// One DCAMA attention block (MultiHeadedAttention, 8 heads): the query and key projections
// (linears.0, linears.1), scaled dot-product attention per head, values = the support mask,
// averaged over heads.
struct DCAMAAttention {
  at::Tensor wq, bq, wk, bk;
  int64_t heads = 8;
  // Most elements of one slice of attention scores (one head, some query rows): 32M floats
  // (128 MiB; one head of a 5-shot layer at 384 x 384 is 26.5M) instead of the official
  // [B, 8, N, K*N] tensor allocated three times per layer (0.85 GB each at 5 shots). Smaller
  // slices cost more than they save on 2 cores: every slice is a parallel region.
  int64_t slice_elements = int64_t(32) << 20;
  // query [B, N, C], key [B, M, C] (positional encodings already added), mask [B, M]
  // -> [B, N] (each query pixel's attention-weighted support mask).
  at::Tensor forward(const at::Tensor& query, const at::Tensor& key, const at::Tensor& mask) const;
};

// Conv(k, pad k/2) + GroupNorm(4) + ReLU, three times (DCAMA_model.build_conv_block).
struct DCAMAConvBlock {
  std::array<at::Tensor, 3> w, b, gn_w, gn_b;
  at::Tensor forward(at::Tensor x) const;
};

// DCAMA_model: everything after the feature extractor ("model.*").
class DCAMALearner {
 public:
  DCAMALearner(const std::array<int64_t, 4>& depths, const std::array<int64_t, 4>& channels);

  // query_feats: one per block; support_feats[k]: shot k's features; support_masks: [B, K, H, W]
  // float 0/1 -> logits [B, 2, 4 h_1, 4 w_1] (h_1: stage-1 height, i.e. the input size).
  at::Tensor forward(const std::vector<at::Tensor>& query_feats,
                     const std::vector<std::vector<at::Tensor>>& support_feats, const at::Tensor& support_masks,
                     std::vector<at::Tensor>* coarse_masks = nullptr) const;

  std::vector<NamedTensor> named_tensors();  // names without "model."
  std::array<int64_t, 4> stack_ids() const { return stack_ids_; }
  DCAMAAttention& attention(int i) { return blocks_[size_t(i)]; }

 private:
  at::Tensor mixer1_first_conv(const at::Tensor& coarse, const at::Tensor& fine) const;

  std::array<int64_t, 4> stack_ids_;  // cumulative blocks per stage
  std::array<int64_t, 4> channels_;
  std::array<DCAMAAttention, 3> blocks_;
  std::array<DCAMAConvBlock, 5> convs_;
  std::array<at::Tensor, 2> mix1_w_, mix1_b_, mix2_w_, mix2_b_, mix3_w_, mix3_b_;
};

class DCAMA {
 public:
  explicit DCAMA(std::unique_ptr<DCAMAFeatures> features);

  std::vector<at::Tensor> features(const at::Tensor& image) const { return features_->extract(image); }
  // Logits [B, 2, S, S] for query [B, 3, S, S], supports [B, K, 3, S, S], masks [B, K, S, S].
  // Each image goes through the backbone on its own, as the official code does.
  at::Tensor forward(const at::Tensor& query, const at::Tensor& supports, const at::Tensor& masks) const;
  at::Tensor forward_features(const std::vector<at::Tensor>& query_feats,
                              const std::vector<std::vector<at::Tensor>>& support_feats, const at::Tensor& masks,
                              std::vector<at::Tensor>* coarse_masks = nullptr) const {
    return learner_.forward(query_feats, support_feats, masks, coarse_masks);
  }

  // "feature_extractor.<official name>" and "model.<name>" (no "module.", no derived buffers).
  std::vector<NamedTensor> named_tensors();
  std::vector<NamedTensor> learner_tensors();  // "model.*" only
  // Official keys ignored when loading: classifier heads, BatchNorm counters, derived buffers
  // (Swin's relative_position_index / attn_mask, the positional-encoding tables "model.pe.*").
  std::vector<std::string> unused_prefixes() const;
  std::vector<std::string> derived_suffixes() const;

  DCAMAFeatures& feature_extractor() { return *features_; }
  const DCAMALearner& learner() const { return learner_; }
  void to(at::Device device, at::ScalarType dtype);

 private:
  std::unique_ptr<DCAMAFeatures> features_;
  DCAMALearner learner_;
};

}  // namespace difss::fss
