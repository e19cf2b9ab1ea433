// The text-to-image ControlNet pipeline of the official generator (ControlNet4FSS
// FSSpregenerate.py / cldm gradio_*2image.py): prompt -> CLIP context (cached per prompt),
// control map -> hint features (once per map), per-image seeded noise, a scheduler with CFG,
// VAE decode -> uint8 RGB images.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <difss/sd/loading.hpp>
#include <difss/sd/sampling.hpp>
#include <difss/sd/tokenizer.hpp>

namespace difss::sd {

struct GenerateRequest {
  at::Tensor control;  // uint8 [H, W, 3] RGB; H and W multiples of the latent factor (8)
  std::string prompt, negative_prompt;
  uint64_t seed = 0;  // image k uses image_seed(seed, k)
  int count = 1;
  SamplerSettings sampler;
  GuidanceSettings guidance;
  int batch_size = 4;  // images per batched forward (CFG doubles it)
};

class ControlNetPipeline {
 public:
  // `tokenizer` may be empty only for models without a text encoder.
  ControlNetPipeline(LoadedModel model, std::optional<ClipTokenizer> tokenizer);
  static std::unique_ptr<ControlNetPipeline> load(const CheckpointSpec& spec,
                                                  const LoadOptions& options,
                                                  const std::string& bpe_vocab_path);

  // ldm FrozenCLIPEmbedder: last hidden state [1, 77, width] of the padded ids; cached for the
  // last 64 prompts.
  at::Tensor text_context(const std::string& prompt);
  // uint8 [count, H, W, 3].
  at::Tensor generate(const GenerateRequest& request, const StepFn& on_step = {});

  const ControlLDM& model() const { return model_.model; }
  const LoadReport& report() const { return model_.report; }
  const NoiseSchedule& schedule() const { return schedule_; }

 private:
  LoadedModel model_;
  std::optional<ClipTokenizer> tokenizer_;
  NoiseSchedule schedule_;
  std::list<std::pair<std::string, at::Tensor>> prompt_cache_;
};

// Unit-normal latents [1, C, h, w] (float32, CPU) of image k of a request: the first draw of
// the image's generator (see image_seed).
at::Tensor initial_latents(uint64_t seed, uint64_t k, int64_t channels, int64_t h, int64_t w);

}  // namespace difss::sd
