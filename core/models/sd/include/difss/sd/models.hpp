// The networks of ControlNet + Stable Diffusion 1.5 as plain structs of tensors with functional
// forwards (ATen ops only, no torch::nn). Parameter names are the official checkpoint keys; the
// mapping to ldm/cldm modules is documented in core/models/sd/README.md.
//
//   UNet        ldm openaimodel.UNetModel + cldm ControlledUnetModel (control residuals added to
//               the middle block output and to every skip connection)
//   ControlNet  cldm.ControlNet: input_hint_block, encoder copy, zero_convs, middle_block_out
//   ClipText    HF CLIPTextModel (last hidden state, causal mask, quick_gelu)
//   Vae         ldm AutoencoderKL decoder (+ post_quant_conv) and encoder (+ quant_conv)
//   ClassEmbed  ldm ClassEmbedder: a learned context table (for class-conditioned models)
//
// Precision: weights are stored in the compute dtype (float32 or bfloat16) except norm
// parameters, which stay float32; GroupNorm/LayerNorm and softmax run in float32.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <vector>

#include <difss/conv/winograd.hpp>
#include <difss/sd/attention.hpp>
#include <difss/sd/param_source.hpp>
#include <difss/sd/config.hpp>

namespace difss::sd {

// ---- building blocks -------------------------------------------------------------------------
struct Linear {
  at::Tensor w, b;  // b may be undefined
};
struct Conv {
  at::Tensor w, b;
  int64_t stride = 1, padding = 1;
  at::Tensor packed;  // w reordered once into oneDNN's blocked layout (pack_conv_weights), or undefined
  // Winograd state, used where difss::conv::winograd_wanted() says so (fp32 CPU inference, 3x3).
  conv::WinogradConv winograd;
};
struct Norm {  // GroupNorm (groups > 0) or LayerNorm (groups == 0), affine, float32 params
  at::Tensor w, b;
  int64_t groups = 32;
  double eps = 1e-5;
};

struct ResBlock {  // ldm openaimodel.ResBlock (use_scale_shift_norm=False)
  Norm in_norm;
  Conv in_conv;
  Linear emb;
  Norm out_norm;
  Conv out_conv;
  std::optional<Conv> skip;  // 1x1 conv when the channel count changes
};

struct CrossAttention {  // ldm attention.CrossAttention
  Linear q, k, v, out;
  int64_t heads = 8;
};

struct TransformerBlock {  // ldm attention.BasicTransformerBlock (gated FF = GEGLU)
  Norm norm1, norm2, norm3;
  CrossAttention attn1, attn2;
  Linear ff_in, ff_out;
};

struct SpatialTransformer {  // ldm attention.SpatialTransformer
  Norm norm;
  bool linear = false;  // use_linear_in_transformer
  Conv proj_in_conv, proj_out_conv;
  Linear proj_in_linear, proj_out_linear;
  std::vector<TransformerBlock> blocks;
};

struct UNetLayer {  // one child of a TimestepEmbedSequential
  enum Kind { kConv, kRes, kTransformer, kDownsample, kUpsample } kind = kConv;
  Conv conv;  // kConv, kDownsample (stride 2), kUpsample (after nearest 2x)
  ResBlock res;
  SpatialTransformer transformer;
};
using UNetBlock = std::vector<UNetLayer>;

struct UNet {
  UNetConfig cfg;
  Linear time1, time2;
  std::vector<UNetBlock> input_blocks;
  UNetBlock middle;
  std::vector<UNetBlock> output_blocks;
  Norm out_norm;
  Conv out_conv;
  // At inference, each block gives back the pages of its checkpoint-mapped float32 weights right
  // after it ran (weights::release_mapped_pages): they stay in the kernel's page cache and fault
  // back in on the next step, so the process holds one block's weights at a time instead of all of
  // them (SD1.5 + ControlNet: 1.5 GiB of linear weights). Weights that are not mapped (random,
  // bf16 copies, packed convolutions) are untouched. Set by ControlNetPipeline::load.
  bool release_weights_after_block = false;
  static UNet build(const UNetConfig& cfg, ParamSource& b, const std::string& prefix);
};

struct ControlNet {
  UNetConfig cfg;
  Linear time1, time2;
  std::vector<Conv> hint;  // input_hint_block convs (SiLU between them)
  std::vector<UNetBlock> input_blocks;
  std::vector<Conv> zero_convs;
  UNetBlock middle;
  Conv middle_out;
  bool release_weights_after_block = false;  // as UNet's
  static ControlNet build(const UNetConfig& cfg, ParamSource& b, const std::string& prefix);
};

struct ClipText {
  ClipTextConfig cfg;
  at::Tensor token_embedding, position_embedding;
  struct Layer {
    Norm ln1, ln2;
    Linear q, k, v, out, fc1, fc2;
  };
  std::vector<Layer> layers;
  Norm final_ln;
  static ClipText build(const ClipTextConfig& cfg, ParamSource& b, const std::string& prefix);
};

struct VaeResBlock {  // ldm diffusionmodules.model.ResnetBlock (temb_channels = 0)
  Norm norm1, norm2;
  Conv conv1, conv2;
  std::optional<Conv> nin_shortcut;
};
struct VaeAttention {  // ldm diffusionmodules.model.AttnBlock (one head over all channels)
  Norm norm;
  Conv q, k, v, proj_out;
};
struct VaeLevel {
  std::vector<VaeResBlock> blocks;
  std::vector<VaeAttention> attn;
  std::optional<Conv> resample;  // up: upsample.conv; down: downsample.conv (pad 0,1,0,1)
};
struct VaeDecoder {
  VaeConfig cfg;
  Conv post_quant_conv, conv_in;
  VaeResBlock mid_block_1, mid_block_2;
  VaeAttention mid_attn;
  std::vector<VaeLevel> up;  // index = level (as stored), run from the last to the first
  Norm norm_out;
  Conv conv_out;
  static VaeDecoder build(const VaeConfig& cfg, ParamSource& b, const std::string& prefix);
};
struct VaeEncoder {
  VaeConfig cfg;
  Conv conv_in, quant_conv;
  std::vector<VaeLevel> down;
  VaeResBlock mid_block_1, mid_block_2;
  VaeAttention mid_attn;
  Norm norm_out;
  Conv conv_out;
  static VaeEncoder build(const VaeConfig& cfg, ParamSource& b, const std::string& prefix);
};

struct ClassEmbed {  // ldm ClassEmbedder: context [B, 1, dim] from a class id
  at::Tensor embedding;  // [classes, dim]
  static ClassEmbed build(int classes, int dim, ParamSource& b, const std::string& prefix);
};

// The DDPM buffers stored in ldm checkpoints (betas, alphas_cumprod, ...): optional.
struct ScheduleBuffers {
  at::Tensor alphas_cumprod;  // float32 [T] when the checkpoint has it
  static ScheduleBuffers build(const ScheduleConfig& cfg, ParamSource& b);
};

// A whole cldm ControlLDM (the parts `cfg` enables).
struct ControlLDM {
  ModelConfig cfg;
  std::optional<UNet> unet;
  std::optional<ControlNet> control;
  std::optional<ClipText> clip;
  std::optional<VaeDecoder> vae_decoder;
  std::optional<VaeEncoder> vae_encoder;
  std::optional<ClassEmbed> class_embed;
  ScheduleBuffers schedule;
  static ControlLDM build(const ModelConfig& cfg, ParamSource& b);
};

// ---- forwards ----------------------------------------------------------------------------------
// ldm timestep_embedding: [cos(t f), sin(t f)], f_i = exp(-ln(10000) i / half); float32 [B, dim].
at::Tensor timestep_embedding(const at::Tensor& t, int64_t dim);

// eps prediction. x [B, C, h, w], t [B] (float timesteps), context [B, L, D]. `control`, when
// given, holds the (already scaled) ControlNet residuals in ControlNet output order.
at::Tensor unet_forward(const UNet& m, const at::Tensor& x, const at::Tensor& t,
                        const at::Tensor& context, const std::vector<at::Tensor>* control);

// input_hint_block: hint [B, 3, H, W] in [0, 1] -> guided hint [B, model_channels, H/8, W/8].
// Independent of the timestep and the prompt: computed once per control map.
at::Tensor controlnet_hint(const ControlNet& m, const at::Tensor& hint);
// The control residuals (num_control_outputs() of them, unscaled). guided_hint's batch is 1 or
// x's batch.
std::vector<at::Tensor> controlnet_forward(const ControlNet& m, const at::Tensor& x,
                                           const at::Tensor& guided_hint, const at::Tensor& t,
                                           const at::Tensor& context);

// Last hidden state [B, L, width] of token ids [B, L] (int64).
at::Tensor clip_text_forward(const ClipText& m, const at::Tensor& ids);

// ldm decode_first_stage: latents (already multiplied by scale_factor during sampling)
// -> images [B, 3, H, W] in about [-1, 1].
at::Tensor vae_decode(const VaeDecoder& m, const at::Tensor& z);
// Encoder mean times scale_factor (ldm get_first_stage_encoding of the posterior's mode).
at::Tensor vae_encode(const VaeEncoder& m, const at::Tensor& x);

// Context [B, 1, dim] for class ids [B] (int64).
at::Tensor class_context(const ClassEmbed& m, const at::Tensor& ids);

// Reorders every convolution weight of the UNet and the ControlNet once into the blocked layout
// oneDNN computes with (Conv::packed), so that inference convolutions skip the per-call weight
// reorder: 1.4-2.6x faster convolutions at the low-resolution levels (1280 channels at 16x16 and
// 8x8 latents) where that reorder dominates. The same numbers bit for bit wherever ATen would run
// oneDNN too (3x3 convolutions on batches > 1, as with CFG); where ATen picks its own kernels
// (small batch-1 inputs, 1x1 on one thread) they agree to float rounding. Training (grad
// mode), other devices and builds without oneDNN keep using w. Returns the number packed.
int pack_conv_weights(UNet& unet);
int pack_conv_weights(ControlNet& control);



}  // namespace difss::sd
