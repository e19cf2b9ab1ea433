#include "tiny_controlnet.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <difss/sdk/owned_tensor.hpp>
#include <difss/sdk/tensor_torch.hpp>
#include <difss/tiny/diffusion.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>

namespace difss::plugins {

namespace fs = std::filesystem;

namespace {

// "Striped Circle" / "striped_circle" / "striped-circle" -> "striped-circle".
std::string normalise(std::string s) {
  for (char& c : s) c = (c == ' ' || c == '_') ? '-' : char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string TinyControlNetSampler::default_checkpoint(const sdk::Host& host, const std::string& model) {
  return host.beside_plugin(model == "varied" ? "tiny-controlnet/varied/tiny_controlnet.safetensors"
                                              : "tiny-controlnet/tiny_controlnet.safetensors");
}

sdk::Descriptor TinyControlNetSampler::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.sampler.tiny-controlnet";
  d.name = "Tiny ControlNet (embedded default)";
  d.description =
      "The embedded default generator: a tiny ControlNet + UNet built from the same code as the SD1.5 "
      "sampler (difss_sd) at 32 base channels, in the latent space of a fixed encoder (2x2 average pool + "
      "2x pixel-unshuffle: 64x64x3 -> 16x16x12) instead of a VAE's, conditioned on the seg-palette control map and on the class through a learned class "
      "embedding (classifier-free guidance against the null class); DDIM from the shared schedulers. "
      "Trained by difss on the procedural `synthetic` dataset (difss-tiny-tool train diffusion): it "
      "demonstrates the pipeline, it does not reproduce Stable Diffusion. Control maps are resized "
      "(nearest) to the model's 64x64 and the images back (bilinear) to the control's size.";
  d.version = "1.0.0";
  d.param(sdk::ParamDef::path("checkpoint", "",
                              "Weights (.safetensors from difss-tiny-tool train diffusion); empty: the committed "
                              "model beside the plugin chosen by 'model'."));
  d.param(sdk::ParamDef::enumeration("model", {"classic", "varied"}, "classic",
                                     "The committed model used when checkpoint is empty: classic (trained on the "
                                     "synthetic dataset's classic world; tiny-controlnet/tiny_controlnet.safetensors) or "
                                     "varied (trained on world = \"varied\"; tiny-controlnet/varied/)."));
  d.param(sdk::ParamDef::integer("steps", 20, 1, 1000, "DDIM steps."));
  d.param(sdk::ParamDef::real("guidance", 2.0, 0.0, 30.0,
                              "Classifier-free guidance scale against the null class (1 = no unconditional pass)."));
  d.param(sdk::ParamDef::real("strength", 1.0, 0.0, 2.0, "Control strength (scales the control residuals)."));
  d.param(sdk::ParamDef::real("eta", 0.0, 0.0, 1.0, "DDIM eta (0 = deterministic)."));
  d.param(sdk::ParamDef::integer("seed", -1, -1, 2147483647,
                                 "-1: the seed the host passes per support; >= 0: this seed for every call. Image k "
                                 "uses SplitMix64 output k+1 of the seed."));
  d.param(sdk::ParamDef::integer("batch_size", 4, 1, 64, "Images denoised together (CFG doubles the batch)."));
  d.input("control", "image", "Control map (RGB): the seg-palette map of the support mask.");
  d.input("prompt", "text", "Prompt; only used to find the class when the class name is unknown.");
  d.input("negative_prompt", "text", "Ignored (the null class is the unconditional branch).");
  d.output("images", "images", "count generated images at the control map's size.");
  return d;
}

TinyControlNetSampler::TinyControlNetSampler(const sdk::Host& host, const sdk::Params& p)
    : host_(host),
      steps_(int(p.integer("steps"))),
      batch_size_(int(p.integer("batch_size"))),
      guidance_(p.real("guidance")),
      strength_(p.real("strength")),
      eta_(p.real("eta")),
      seed_(p.integer("seed")) {
  std::string ckpt = p.string("checkpoint");
  const bool given = !ckpt.empty();
  if (!given) ckpt = default_checkpoint(host, p.string("model"));
  if (!fs::exists(ckpt))
    throw sdk::Error(DIFSS_ERR_NOT_FOUND,
                     given ? "checkpoint: file not found: " + ckpt
                           : "the committed tiny model is missing: " + ckpt +
                                 " (build the plugin so its models are copied, or set checkpoint)");
  try {
    model_ = std::make_unique<tiny::TinyDiffusion>(tiny::load_tiny_diffusion(ckpt));
  } catch (const std::exception& e) {
    throw sdk::Error(DIFSS_ERR_IO, sdk::trim_backtrace(e.what()));
  }
  host_.info("loaded " + ckpt + " (" + std::to_string(model_->class_names.size()) + " classes, " +
             std::to_string(model_->resolution) + " px)");
}

TinyControlNetSampler::~TinyControlNetSampler() = default;

int TinyControlNetSampler::row_for(const std::string& class_name, const std::string& prompt) const {
  const std::string n = normalise(class_name);
  for (size_t i = 0; i < model_->class_names.size(); ++i)
    if (normalise(model_->class_names[i]) == n) return int(i) + 1;
  const std::string pr = normalise(prompt);
  for (size_t i = 0; i < model_->class_names.size(); ++i)
    if (pr.find(normalise(model_->class_names[i])) != std::string::npos) return int(i) + 1;
  return 0;
}

sdk::OwnedTensor TinyControlNetSampler::sample(const sdk::SamplerInput& in, sdk::Call& call) {
  sdk::require_port(in.control, "control", "image");
  if (in.count < 1 || in.count > 1024)
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "count must be 1..1024, got " + std::to_string(in.count));
  c10::InferenceMode guard;
  const at::Tensor control = sdk::as_tensor(in.control);
  const int64_t H = control.size(0), W = control.size(1), S = model_->resolution;
  at::Tensor ctl = control;
  if (H != S || W != S)  // discrete colour map: nearest
    ctl = at::upsample_nearest2d(control.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat), {S, S})[0]
              .permute({1, 2, 0}).round().to(at::kByte);
  tiny::TinySampleRequest r;
  r.control = ctl.contiguous();
  r.row = row_for(in.class_name, in.prompt);
  if (r.row == 0)
    host_.debug("class '" + in.class_name + "' is not one the tiny model knows; using the null class (control only)");
  r.seed = seed_ >= 0 ? uint64_t(seed_) : in.seed;
  r.count = int(in.count);
  r.steps = steps_;
  r.guidance = guidance_;
  r.strength = strength_;
  r.eta = eta_;
  r.batch_size = batch_size_;
  at::Tensor images = tiny::sample_tiny(*model_, r, [&](int done, int total) {
    call.progress("denoising", uint64_t(done), uint64_t(total));
    call.check_cancelled();
  });
  if (H != S || W != S)
    images = at::upsample_bilinear2d(images.permute({0, 3, 1, 2}).to(at::kFloat), {H, W}, false)
                 .round().clamp(0, 255).to(at::kByte).permute({0, 2, 3, 1});
  return sdk::to_owned(images.contiguous());
}

}  // namespace difss::plugins
