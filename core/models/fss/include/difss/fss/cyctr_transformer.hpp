// CyCTR's cycle-consistent transformer (model/cyc_transformer.py and positional_encoding.py of
// YanFangCS/CyCTR-Pytorch @ 1a06183), eval mode. Per layer, in forward order:
//   query self-attention: multi-scale deformable attention (1 level, 9 points) over the query
//     tokens with the sine position encoding + level_embed, padding positions' values zeroed;
//     residual, LayerNorm, FFN (Linear d -> 3d, ReLU, Linear 3d -> d, no biases, residual), LayerNorm;
//   cross-attention to a sparse sample of the support tokens (drawn once, at the first layer):
//     scaled dot product (q_fc, k_fc, v_fc, proj without bias), with the cycle-consistency mask
//     (a support token whose best query's best support token has another foreground label is
//     masked with -10000, as are support positions labelled 255); residual, LayerNorm, FFN, LayerNorm.
// Heads: 12 when the width is a multiple of 12, else 8 (the official rule; 8 at d = 256).
// Parameter names are the official state dict's (transformer.cross_layers.<l>.*,
// qry_self_layers.<l>.*, layer_norms.<i>.*, ffns.<i>.layers.{0.0,1}.weight, level_embed).
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include <difss/fss/layers.hpp>
#include <difss/fss/msdeform_attn.hpp>
#include <difss/fss/named_tensors.hpp>

namespace difss::fss {

// SinePositionalEncoding(num_feats, normalize=True) of a padding mask [B, h, w] (bool, true =
// padding): [B, 2 * num_feats, h, w], the y half first.
at::Tensor sine_position_encoding(const at::Tensor& padding, int64_t num_feats);

// FFN with residual: x + layers.1(relu(layers.0.0(x))).
struct CyCFFN {
  Linear fc1, fc2;
  CyCFFN() = default;
  CyCFFN(int64_t dims, int64_t hidden, const at::TensorOptions& options);
  at::Tensor operator()(const at::Tensor& x) const;
  void collect(std::vector<NamedTensor>& out, const std::string& prefix);
};

// MyCrossAttention with cyc=True. q [B, N, C]; k, v [B, Ns, C]; ignore [B, Ns] bool (true =
// masked: a 255 support position); fg [B, Ns] bool (the sampled foreground labels).
struct CycCrossAttention {
  Linear q_fc, k_fc, v_fc, proj;
  int64_t heads = 8;
  CycCrossAttention() = default;
  CycCrossAttention(int64_t dims, int64_t heads, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& ignore,
                     const at::Tensor& fg) const;
  void collect(std::vector<NamedTensor>& out, const std::string& prefix);
};

// What sparse_sampling returns: the sampled tokens [B, n, C], their foreground labels and
// ignore flags [B, n] (bool), and for tests the drawn token indices [B, n] (int64, into the
// concatenated support tokens).
struct SparseSample {
  at::Tensor tokens, fg, ignore, index;
};

// CyCTransformer.sparse_sampling in eval mode: fg_num / bg_num tokens (300·K each officially).
// With fewer foreground tokens than fg_num: all of them, then the first
// (fg_num + bg_num - #fg) of randperm(#bg) background ones; with fewer background tokens: the
// first (fg_num + bg_num - #bg) of randperm(#fg), then all background; otherwise randperm(#fg)[:fg_num]
// and randperm(#bg)[:bg_num]. The draws come from `generator` in that order, batch item by
// item, exactly as torch.randperm draws from a CPU generator.
// Kept as the official code has it: the labels and ignore flags of the drawn tokens are read at
// the drawn position counted in the WHOLE token list (supp_mask_b[bg_select_idx]), not in the
// foreground / background list the token was taken from.
SparseSample sparse_sampling(const at::Tensor& tokens, const at::Tensor& fg, const at::Tensor& ignore, int64_t fg_num,
                             int64_t bg_num, at::Generator generator);

// What one transformer forward computed (tests).
struct CyCTransformerTrace {
  SparseSample sample;
  at::Tensor position;  // [B, hw, C]: sine encoding + level_embed
};

class CyCTransformer {
 public:
  // dims: width (256 in the published configs); shots: K; per_shot: sampled tokens of each kind
  // per shot (300).
  CyCTransformer(int64_t dims, int64_t shots, const at::TensorOptions& options, int64_t layers = 2, int64_t points = 9,
                 int64_t per_shot = 300);
  CyCTransformer() = default;

  // query [B, C, h, w]; padding [B, H, W] (255 = padding, the letterboxed query's padding mask at
  // the input size); support [B * K, C, h, w]; support_mask [B, K, H, W] (1 = object);
  // support_padding [B, K, H, W] (255 = ignore / padding). Returns [B, C, h, w].
  at::Tensor forward(const at::Tensor& query, const at::Tensor& padding, const at::Tensor& support,
                     const at::Tensor& support_mask, const at::Tensor& support_padding, at::Generator generator,
                     CyCTransformerTrace* trace = nullptr) const;

  int64_t per_shot() const { return per_shot_; }
  void set_per_shot(int64_t n) { per_shot_ = n; }
  void collect(std::vector<NamedTensor>& out, const std::string& prefix);

 private:
  int64_t dims_ = 256, shots_ = 1, layers_ = 2, per_shot_ = 300;
  std::vector<MSDeformAttn> self_;
  std::vector<CycCrossAttention> cross_;
  std::vector<LayerNorm> norms_;  // 4 per layer, in forward order
  std::vector<CyCFFN> ffns_;      // 2 per layer, in forward order
  at::Tensor level_embed_;        // [1, C]
};

}  // namespace difss::fss
