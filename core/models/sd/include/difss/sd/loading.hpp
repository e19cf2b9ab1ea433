// Reading ControlNet / Stable Diffusion checkpoints into a ControlLDM, and writing random ones.
//
// Accepted layouts (.pth / .ckpt / .safetensors; Lightning "state_dict" wrappers are unwrapped
// by difss_weights):
//   - a ControlNet 1.0 bundle (control_sd15_{seg,hed,scribble}.pth): the whole ControlLDM —
//     model.diffusion_model.*, control_model.*, first_stage_model.*,
//     cond_stage_model.transformer.text_model.* and the DDPM buffers (betas, alphas_cumprod, ...);
//   - a control-only file (ControlNet 1.1 control_v11p_sd15_*.pth: control_model.* keys, or the
//     same keys without the prefix) plus a Stable Diffusion 1.5 checkpoint as `base`
//     (v1-5-pruned*.ckpt / .safetensors); the control file provides control_model.*, the base
//     everything else (the base wins for the parts both have).
// Tolerated and ignored: model_ema.*, cond_stage_model.transformer.text_model.embeddings.position_ids,
// the older CLIP layout without "text_model." (renamed), any other key is reported as unused.
//
// Memory: the files are mapped read-only by difss_weights (MemoryMode::MapReadOnly), not read.
// float32 weights used on the CPU in float32 are views of the mapping (no copy at all); weights
// that are converted (fp16 -> fp32, fp32 -> bf16, to CUDA) are copied one tensor at a time by
// difss::weights::Binder and the mapped pages of the source are dropped right after, so the peak
// stays near the size of the model in its compute precision.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <difss/sd/config.hpp>
#include <difss/sd/models.hpp>

namespace difss::sd {

struct CheckpointSpec {
  std::string checkpoint;       // ControlNet bundle, or control-only file
  std::string base_checkpoint;  // optional: Stable Diffusion 1.5 (for control-only files)
};

struct LoadOptions {
  at::ScalarType dtype = at::kFloat;  // compute precision: kFloat or kBFloat16
  c10::Device device = c10::Device(c10::kCPU);
  bool text_encoder = true;   // load CLIP (false when contexts come from elsewhere)
  bool vae_encoder = false;   // the encoder is only needed for image-to-image
  // ControlNetPipeline: reorder the UNet's and ControlNet's convolution weights for oneDNN once
  // (pack_conv_weights, models.hpp; the mapped float32 originals are released as each is packed).
  bool pack_conv_weights = true;
  // ControlNetPipeline: UNet/ControlNet::release_weights_after_block (models.hpp). Lowers the peak
  // RSS of a fp32 SD1.5 run from 5.05 to 3.70 GiB for ~0.5-1 s of page faults per step.
  bool release_block_weights = true;
};

struct LoadReport {
  ModelConfig config;
  std::vector<std::string> unused_keys;  // neither a parameter nor a tolerated key
  std::vector<std::string> notes;        // what was inferred, converted, taken from where
  double seconds = 0;
};

struct LoadedModel {
  ControlLDM model;
  LoadReport report;
  // The weights of each stage (references, not copies), for difss::weights::release_mapped_pages:
  // it drops the resident pages of the weights that are views of a mapped checkpoint (float32 on
  // the CPU); the pages stay in the page cache and come back on first use (minor faults), so a
  // pipeline can keep only the stage it runs resident: the peak memory of a 512x512 sampling is
  // then the UNet + ControlNet, not the whole file plus the VAE's activations.
  std::vector<at::Tensor> denoiser_weights, text_weights, vae_weights;
};

// Builds the model the checkpoint(s) describe (safetensors metadata "difss.sd.config" when
// present, otherwise inferred from the tensor shapes with SD1.5's non-shape settings) and
// fills it. Throws std::runtime_error (difss::weights::WeightError for file and key problems)
// naming the file and the keys for missing files, missing parameters or shape mismatches.
LoadedModel load_control_ldm(const CheckpointSpec& spec, const LoadOptions& options);

// The architecture implied by canonical key -> shape (plus optional metadata).
using ShapeTable = std::vector<std::pair<std::string, std::vector<int64_t>>>;
ModelConfig infer_model_config(const ShapeTable& shapes,
                               const std::map<std::string, std::string>& metadata = {});

// The parameter table (canonical key -> shape) of a model definition, built without allocating
// any tensor. Optional buffers (DDPM schedule, position_ids) are included.
std::vector<ParamSpec> parameter_table(const ModelConfig& cfg);

// A model with deterministic random weights (benchmarks, tests). Norm weights ~ 1, other
// weights ~ N(0, 1/fan_in), biases and embeddings ~ N(0, 0.02^2); zero-convs are random too.
ControlLDM random_control_ldm(const ModelConfig& cfg, uint64_t seed,
                              at::ScalarType dtype = at::kFloat,
                              c10::Device device = c10::Device(c10::kCPU));

// Writes a random-weight checkpoint with the official key layout (plus the DDPM buffers and the
// config as safetensors metadata "difss.sd.config") — a stand-in for the real files in tests and
// pipelines. `storage` may be kFloat, kHalf or kBFloat16.
void write_random_checkpoint(const std::string& path, const ModelConfig& cfg, uint64_t seed,
                             at::ScalarType storage = at::kFloat);

// A reduced-width ControlLDM (32 base channels, channel_mult (1, 2), one res block per level,
// attention at ds 2 and in the middle, 2-layer CLIP of width 32 with the full 49,408-token
// vocabulary, VAE with 32 channels and ch_mult (1, 2, 2, 2) so latents are 1/8 of the image):
// a few MB, samples 64x64 images in about a second on a CPU.
ModelConfig reduced_config();

}  // namespace difss::sd
