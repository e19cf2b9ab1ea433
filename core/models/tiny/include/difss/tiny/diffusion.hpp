// The embedded tiny ControlNet diffusion model: the SAME UNet / ControlNet / scheduler code as the
// Stable Diffusion 1.5 sampler (difss_sd), at tiny width, conditioned on a control map (the
// seg-palette map of the support mask) and on the class through a learned class-embedding context
// (ldm ClassEmbedder, row 0 = "no class", used for classifier-free guidance and unknown classes).
//
// In place of SD's learned VAE, a fixed "autoencoder" gives the diffusion a small latent space:
//   encode: image 64x64x3 in [-1, 1] --2x2 average pool--> 32x32x3 --pixel_unshuffle(2)--> 16x16x12
//   decode: 16x16x12 --pixel_shuffle(2)--> 32x32x3 --bilinear 2x--> 64x64x3
// (so the model draws at half resolution: a 4x4-pixel unshuffle straight to 48 channels left a
// 32-channel network unable to denoise, and sampling ended in noise.)
//   control 64x64x3 in [0, 1] --input_hint_block (strides 2, 2, 1)-->  16x16x32
//   UNet / ControlNet: 32 base channels, channel_mult (1, 2), one res block per level,
//   a SpatialTransformer at ds 2 and in the middle block (context = class embedding, dim 32).
//
// Shared by the plugin (org.difss.sampler.tiny-controlnet) and the training code
// (apps/difss-tiny-tool), so both build the very same network.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>

#include <difss/sd/config.hpp>
#include <difss/sd/models.hpp>
#include <difss/sd/sampling.hpp>

namespace difss::tiny {

inline constexpr int kPool = 2;           // average-pool factor of the fixed encoder
inline constexpr int kPixelPack = 2;      // pixel-unshuffle factor after the pool
inline constexpr int kLatentFactor = kPool * kPixelPack;  // image side / latent side
inline constexpr int kDiffusionSize = 64;  // image side the model is trained at
// safetensors metadata keys written by the trainer.
inline const char* const kMetaResolution = "difss.tiny.resolution";
inline const char* const kMetaClasses = "difss.tiny.classes";  // JSON list of class names, row 1..
inline const char* const kMetaPrediction = "difss.tiny.prediction";  // "v" (the only one)

// The architecture (class_embed_classes = classes + 1: row 0 is the null class).
sd::ModelConfig diffusion_config(int classes);

// The fixed autoencoder: [B, 3, H, W] in [-1, 1] <-> [B, 12, H/4, W/4].
at::Tensor pack_image(const at::Tensor& x);
at::Tensor unpack_image(const at::Tensor& z);

// The network predicts v = sqrt(a_t) eps - sqrt(1 - a_t) x0 (ldm's "v" parameterization, as
// SD 2.x); the sampler turns the guided v into eps for the shared DDIM scheduler.
// Training objective for a batch: images [B, 3, S, S] in [-1, 1], hints
// [B, 3, S, S] in [0, 1], class rows [B] (int64, 0 = null), timesteps [B] (int64), noise like the
// packed images. Returns the mean squared error (differentiable w.r.t. the model's tensors).
at::Tensor diffusion_loss(const sd::ControlLDM& m, const at::Tensor& alphas_cumprod,
                          const at::Tensor& images, const at::Tensor& hints, const at::Tensor& rows,
                          const at::Tensor& t, const at::Tensor& noise);

struct TinyDiffusion {
  sd::ControlLDM model;
  sd::NoiseSchedule schedule;
  int resolution = kDiffusionSize;
  std::vector<std::string> class_names;  // row r (1-based) = class_names[r - 1]
  // Row of the class embedding for a class name; 0 when unknown.
  int row_of(const std::string& class_name) const;
};

// Loads a checkpoint written by the trainer (.safetensors with "difss.sd.config" metadata).
// Throws std::runtime_error naming the file for missing files / keys / wrong shapes.
TinyDiffusion load_tiny_diffusion(const std::string& path);

struct TinySampleRequest {
  at::Tensor control;  // uint8 [S, S, 3] at the model resolution
  int64_t row = 0;     // class-embedding row (0 = null class)
  uint64_t seed = 0;   // image k uses sd::image_seed(seed, k)
  int count = 1;
  int steps = 20;
  double guidance = 2.0;  // classifier-free guidance scale against the null class (1 = off)
  double eta = 0.0;
  double strength = 1.0;  // control strength
  int batch_size = 4;
};

// DDIM (the shared ldm scheduler) with classifier-free guidance; returns uint8 [count, S, S, 3].
// `on_step(done, total)` is called after every denoising step; it may throw to cancel.
at::Tensor sample_tiny(const TinyDiffusion& m, const TinySampleRequest& r,
                       const std::function<void(int, int)>& on_step = {});

}  // namespace difss::tiny
