// Architecture settings of the Stable Diffusion 1.5 + ControlNet family, without LibTorch.
//
// The names follow ldm's `UNetModel` / cldm's `ControlNet` constructor arguments (see
// models/cldm_v15.yaml of lllyasviel/ControlNet), so a config reads like the official YAML.
// sd15() gives the official sizes; every field can be shrunk to build small models from the
// same code (the parity tests and the embedded tiny model do exactly that).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace difss::sd {

// ldm.modules.diffusionmodules.openaimodel.UNetModel with SpatialTransformer (and, with the
// hint_* fields, cldm.cldm.ControlNet, which copies the encoder half of the UNet).
struct UNetConfig {
  int in_channels = 4;
  int out_channels = 4;
  int model_channels = 320;
  std::vector<int> channel_mult{1, 2, 4, 4};
  std::vector<int> num_res_blocks{2, 2, 2, 2};   // per level (ldm accepts an int: same for all)
  std::vector<int> attention_resolutions{4, 2, 1};  // downsample rates (ds) with a transformer
  int num_heads = 8;            // ldm: used when num_head_channels == -1
  int num_head_channels = -1;   // ldm: if set, heads = channels / num_head_channels
  int transformer_depth = 1;
  int context_dim = 768;
  bool use_linear_in_transformer = false;  // false: proj_in/out are 1x1 convs (SD1.x)
  int norm_groups = 32;                    // GroupNorm32 everywhere
  // ControlNet only: the hint encoder (input_hint_block): 3x3 convs with SiLU between them,
  // channels hint_channels -> hint_block_channels... -> model_channels; strides per conv.
  int hint_channels = 3;
  std::vector<int> hint_block_channels{16, 16, 32, 32, 96, 96, 256};
  std::vector<int> hint_block_strides{1, 1, 2, 1, 2, 1, 2, 1};  // one per conv (channels + 1)

  int levels() const { return int(channel_mult.size()); }
  bool attention_at(int ds) const;
  // Heads and channels per head of a transformer with `ch` channels (ldm, legacy=False).
  void heads_for(int ch, int& heads, int& dim_head) const;
  // Number of control residuals a ControlNet of this config produces (one per input block +
  // the middle block): 13 for SD1.5.
  int num_control_outputs() const;
  int time_embed_dim() const { return model_channels * 4; }
};

// Hugging Face CLIPTextModel (openai/clip-vit-large-patch14 text tower), as stored in ldm
// checkpoints under cond_stage_model.transformer.text_model.
struct ClipTextConfig {
  int vocab_size = 49408;
  int max_positions = 77;
  int width = 768;
  int layers = 12;
  int heads = 12;
  int mlp_width = 3072;
  double layer_norm_eps = 1e-5;
};

// ldm.models.autoencoder.AutoencoderKL (ddconfig of cldm_v15.yaml).
struct VaeConfig {
  int ch = 128;
  std::vector<int> ch_mult{1, 2, 4, 4};
  int num_res_blocks = 2;
  std::vector<int> attn_resolutions{};  // at curr_res; SD has none besides the mid block
  int resolution = 256;                 // only used to place attn_resolutions
  int in_channels = 3;
  int out_ch = 3;
  int z_channels = 4;
  int embed_dim = 4;
  bool double_z = true;
  int norm_groups = 32;
  double scale_factor = 0.18215;
  int downsample_factor() const { return 1 << (int(ch_mult.size()) - 1); }
};

// The noise schedule of ldm's DDPM ("linear": betas = linspace(sqrt(b0), sqrt(b1), T)^2).
struct ScheduleConfig {
  int timesteps = 1000;
  double linear_start = 0.00085;
  double linear_end = 0.012;
};

// A whole ControlLDM: which parts exist and their sizes.
struct ModelConfig {
  UNetConfig unet;
  UNetConfig control;  // same as unet for cldm (the hint fields matter here)
  ClipTextConfig clip;
  VaeConfig vae;
  ScheduleConfig schedule;
  bool has_unet = true;
  bool has_control = true;
  bool has_text_encoder = true;  // false: the context comes from elsewhere (class embedding)
  bool has_vae = true;
  bool has_vae_encoder = true;   // the official bundle stores it; sampling does not need it
  int class_embed_classes = 0;   // >0: a ClassEmbedder context table (ldm ClassEmbedder)

  static ModelConfig sd15();
  // Round trip through safetensors "__metadata__" (key "difss.sd.config", JSON text).
  std::string to_json() const;
  static ModelConfig from_json(const std::string& json);
};

// Checkpoint key prefixes of cldm's ControlLDM state dict.
namespace prefix {
inline const char* const unet = "model.diffusion_model.";
inline const char* const control = "control_model.";
inline const char* const vae = "first_stage_model.";
inline const char* const clip = "cond_stage_model.transformer.text_model.";
inline const char* const class_embed = "cond_stage_model.";
}  // namespace prefix

}  // namespace difss::sd
