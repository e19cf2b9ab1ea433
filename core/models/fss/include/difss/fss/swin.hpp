// Swin Transformer (Liu et al., ICCV 2021) as DCAMA uses it: the feature pyramid of every block's
// output, with the module layout and key names of the official Swin code that DCAMA vendors
// (model/base/swin_transformer.py of pawn-sxy/DCAMA: "patch_embed.*", "layers.N.blocks.M.*",
// "layers.N.downsample.*"), so that the 22k->1k ImageNet checkpoint's ['model'] entry loads by
// name. Functional ATen with plain tensors, inference only (dropout and stochastic depth are
// identities).
//
// Derived buffers of the official module (relative_position_index, attn_mask) are computed here,
// not loaded; the classification head ("norm.", "head.") is not part of the model.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <string>
#include <vector>

#include <difss/fss/named_tensors.hpp>

namespace difss::fss {

struct SwinConfig {
  int64_t img_size = 384;  // the input must be img_size x img_size (as the official PatchEmbed asserts)
  int64_t patch_size = 4;
  int64_t window_size = 12;
  int64_t embed_dim = 128;
  std::array<int64_t, 4> depths{2, 2, 18, 2};
  std::array<int64_t, 4> num_heads{4, 8, 16, 32};
  int64_t mlp_ratio = 4;

  // Swin-B, patch 4, window 12, 384 x 384 (DCAMA's "swin" backbone).
  static SwinConfig swin_base_384();
  // Throws std::invalid_argument naming the setting when the stages cannot be windowed.
  void validate() const;
};

class SwinTransformer {
 public:
  explicit SwinTransformer(const SwinConfig& config);

  // Every block's output, finest first, as [B, C, h, w] (the official feat_maps of
  // forward_features, reshaped as DCAMA's extract_feats does). x: normalised [B, 3, S, S].
  std::vector<at::Tensor> features(const at::Tensor& x) const;

  // Official names without prefix, e.g. "layers.0.blocks.1.attn.qkv.weight".
  std::vector<NamedTensor> named_tensors();
  // Keys of the official checkpoint that this model does not use (classifier head) and
  // suffixes of the derived buffers it computes itself.
  static std::vector<std::string> unused_prefixes() { return {"norm.", "head."}; }
  static std::vector<std::string> derived_suffixes() { return {".relative_position_index", ".attn_mask"}; }

  const SwinConfig& config() const { return config_; }
  void to(at::Device device, at::ScalarType dtype);

 private:
  struct Linear {
    at::Tensor weight, bias;
  };
  struct Norm {
    at::Tensor weight, bias;
  };
  struct Block {
    int64_t dim = 0, heads = 0, window = 0, shift = 0, res = 0;
    Norm norm1, norm2;
    Linear qkv, proj, fc1, fc2;
    at::Tensor bias_table;     // [(2w-1)^2, heads]
    at::Tensor position_index; // [w*w * w*w] int64 (derived)
    at::Tensor attn_mask;      // [nW, w*w, w*w] (derived; undefined without shift)
    at::Tensor forward(const at::Tensor& x) const;  // [B, res*res, dim]
  };
  struct Stage {
    std::vector<Block> blocks;
    bool has_down = false;
    Norm down_norm;
    at::Tensor down_reduction;  // [2C, 4C], no bias
  };

  SwinConfig config_;
  at::Tensor patch_w_, patch_b_;
  Norm patch_norm_;
  std::array<Stage, 4> stages_;
};

}  // namespace difss::fss
