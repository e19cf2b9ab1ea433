#include "controlnet_sampler.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <difss/sd/pipeline.hpp>
#include <difss/sdk/cpu_features.hpp>
#include <difss/sdk/owned_tensor.hpp>
#include <difss/sdk/tensor_torch.hpp>

#include <cmath>
#include <filesystem>
#include <sstream>

namespace difss::plugins {
namespace {

// The precision parameter -> dtype. bf16 on a CPU that emulates it is honoured with a warning;
// "auto" takes bf16 only where the CPU has it natively (sdk/cpu_features.hpp).
at::ScalarType compute_dtype(const std::string& precision, bool cuda, const sdk::Host& host) {
  const bool native = !cuda && sdk::cpu_features().native_bf16();
  if (precision == "auto") {
    host.info(std::string("precision = \"auto\" chose ") + (native ? "bf16" : "fp32") + " on " +
              (cuda ? std::string("cuda") : sdk::cpu_features().summary()));
    return native ? at::kBFloat16 : at::kFloat;
  }
  if (precision == "bf16" && !cuda && !native) host.warn("precision = \"bf16\": " + sdk::emulated_bf16_warning());
  return precision == "bf16" ? at::kBFloat16 : at::kFloat;
}

namespace fs = std::filesystem;

const char* const kVocabName = "bpe_simple_vocab_16e6.txt.gz";
constexpr int64_t kMaxSide = 2048;  // latents 256x256; the VAE decoder needs ~10 GB there

std::string find_vocab(const std::string& given, const sdk::Host& host, const std::string& ckpt) {
  if (!given.empty()) {
    if (!fs::exists(given))
      throw sdk::Error(DIFSS_ERR_NOT_FOUND, "vocab: file not found: " + given);
    return given;
  }
  std::vector<fs::path> candidates;
  if (!host.plugin_dir().empty()) candidates.push_back(fs::path(host.plugin_dir()) / kVocabName);
  candidates.push_back(fs::path(ckpt).parent_path() / kVocabName);
  std::string tried;
  for (const auto& c : candidates) {
    if (fs::exists(c)) return c.string();
    tried += (tried.empty() ? "" : ", ") + c.string();
  }
  throw sdk::Error(DIFSS_ERR_NOT_FOUND,
                   std::string("vocab: set it to ") + kVocabName + " (openai/CLIP); not found at " + tried);
}

// The official resize (annotator.util.resize_image): short side `res`, sides rounded to
// multiples of 64; nearest neighbour, as FSSpregenerate resizes its segmentation maps.
at::Tensor fit_control(const at::Tensor& hwc, int res) {
  const int64_t H = hwc.size(0), W = hwc.size(1);
  if (H % 64 == 0 && W % 64 == 0) return hwc;
  const double k = res > 0 ? double(res) / double(std::min(H, W)) : 1.0;
  const int64_t h = std::max<int64_t>(64, std::llround(double(H) * k / 64.0) * 64);
  const int64_t w = std::max<int64_t>(64, std::llround(double(W) * k / 64.0) * 64);
  if (h > kMaxSide || w > kMaxSide)
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "control map of " + std::to_string(H) + "x" +
                                                     std::to_string(W) + " would be resized to " +
                                                     std::to_string(h) + "x" + std::to_string(w) +
                                                     ", more than 2048 pixels per side");
  at::Tensor chw = hwc.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat);
  at::Tensor out = at::upsample_nearest2d(chw, {h, w});
  return out[0].permute({1, 2, 0}).round().to(at::kByte).contiguous();
}

}  // namespace

sdk::Descriptor ControlNetSd15Sampler::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.sampler.controlnet-sd15";
  d.name = "ControlNet + Stable Diffusion 1.5";
  d.description =
      "Generates images that follow a control map (segmentation, HED, scribble, ...) with "
      "ControlNet on Stable Diffusion 1.5, natively in LibTorch: the auxiliary-support generator "
      "of DifFSS (ControlNet4FSS FSSpregenerate.py). Loads the official checkpoints; CLIP text "
      "encoder, UNet, ControlNet and VAE decoder as in ldm/cldm.";
  d.version = "1.0.0";
  d.param(sdk::ParamDef::path("checkpoint", "",
                              "ControlNet weights: a v1.0 bundle (control_sd15_seg.pth) or a "
                              "control-only file (control_v11p_sd15_seg.pth, needs base_checkpoint); "
                              ".pth, .ckpt or .safetensors.")
              .make_required());
  d.param(sdk::ParamDef::path("base_checkpoint", "",
                              "Stable Diffusion 1.5 weights (v1-5-pruned.ckpt / .safetensors) for "
                              "control-only checkpoints; provides UNet, VAE and text encoder."));
  d.param(sdk::ParamDef::path("vocab", "",
                              "CLIP BPE merges bpe_simple_vocab_16e6.txt.gz; empty: looked up beside "
                              "the plugin, then beside the checkpoint."));
  d.param(sdk::ParamDef::enumeration("sampler", {"ddim", "dpmpp-2m", "dpmpp-2m-karras", "euler-a"},
                                     "ddim", "Scheduler (ddim as ldm/cldm; the others as k-diffusion)."));
  d.param(sdk::ParamDef::integer("steps", 20, 1, 1000,
                                 "Denoising steps (gradio demo 20; the public FSSpregenerate.py uses 2)."));
  d.param(sdk::ParamDef::real("guidance", 9.0, 0.0, 30.0,
                              "Classifier-free guidance scale (1 = no unconditional pass)."));
  d.param(sdk::ParamDef::real("strength", 1.0, 0.0, 2.0, "Control strength (scales the 13 control residuals)."));
  d.param(sdk::ParamDef::real("eta", 0.0, 0.0, 1.0, "DDIM eta (0 = deterministic); euler-a always uses 1."));
  d.param(sdk::ParamDef::boolean("guess_mode", false,
                                 "cldm guess mode: no control on the unconditional branch, control "
                                 "scales strength * 0.825^(12 - i)."));
  d.param(sdk::ParamDef::integer("seed", -1, -1, 2147483647,
                                 "-1: the seed the host passes per support; >= 0: this seed for every "
                                 "call. Image k uses SplitMix64 output k+1 of the seed."));
  d.param(sdk::ParamDef::integer("batch_size", 4, 1, 64,
                                 "Images denoised together (CFG doubles the batch); memory vs speed."));
  d.param(sdk::ParamDef::integer("resolution", 512, 0, 2048,
                                 "Short side for control maps whose sides are not multiples of 64 "
                                 "(official resize, nearest); 0 = only round to multiples of 64."));
  d.param(sdk::ParamDef::enumeration("precision", {"fp32", "bf16", "auto"}, "fp32",
                                     "Compute precision (norms and softmax stay float32); auto = bf16 "
                                     "where the CPU computes it natively (AVX512-BF16, AMX), else fp32."));
  d.param(sdk::ParamDef::boolean("release_block_weights", true,
                                 "Give each UNet/ControlNet block's checkpoint-mapped weights back to "
                                 "the page cache after it ran (fp32 SD1.5 peak RSS 5.05 -> 3.70 GiB; "
                                 "costs ~0.5-1 s of page faults per step); false keeps all resident."));
  d.param(sdk::ParamDef::enumeration("device", {"cpu", "cuda"}, "cpu",
                                     "Where to run; cuda needs a LibTorch with CUDA."));
  d.input("control", "image", "Control map (RGB), e.g. an ADE20K-palette segmentation map.");
  d.input("prompt", "text",
          "Prompt, used as given: the pipeline owns its text ([generator] prompt; default ControlNet4FSS's "
          "prompt + a_prompt).");
  d.input("negative_prompt", "text",
          "Negative prompt, used as given ([generator] negative_prompt; default ControlNet4FSS's n_prompt).");
  d.output("images", "images", "count generated images of the control map's size (sides multiples of 64).");
  return d;
}

ControlNetSd15Sampler::ControlNetSd15Sampler(const sdk::Host& host, const sdk::Params& p)
    : host_(host),
      sampler_(p.string("sampler")),
      steps_(int(p.integer("steps"))),
      batch_size_(int(p.integer("batch_size"))),
      resolution_(int(p.integer("resolution"))),
      guidance_(p.real("guidance")),
      strength_(p.real("strength")),
      eta_(p.real("eta")),
      guess_mode_(p.boolean("guess_mode")),
      seed_(p.integer("seed")) {
  const std::string ckpt = p.string("checkpoint"), base = p.string("base_checkpoint");
  if (ckpt.empty()) throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "checkpoint: not set");
  for (const std::string& f : {ckpt, base})
    if (!f.empty() && !fs::exists(f)) throw sdk::Error(DIFSS_ERR_NOT_FOUND, "checkpoint not found: " + f);
  sd::LoadOptions lo;
  lo.dtype = compute_dtype(p.string("precision"), p.string("device") == "cuda", host_);
  lo.release_block_weights = p.boolean("release_block_weights");
  if (p.string("device") == "cuda") {
    if (!at::hasCUDA())
      throw sdk::Error(DIFSS_ERR_UNSUPPORTED,
                       "device = \"cuda\": this LibTorch build has no usable CUDA device; use \"cpu\"");
    lo.device = c10::Device(c10::kCUDA);
  }
  const std::string vocab = find_vocab(p.string("vocab"), host, ckpt);
  try {
    pipe_ = sd::ControlNetPipeline::load({ckpt, base}, lo, vocab);
  } catch (const sdk::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw sdk::Error(DIFSS_ERR_IO, sdk::trim_backtrace(e.what()));
  }
  const sd::LoadReport& r = pipe_->report();
  std::ostringstream msg;
  msg << "loaded " << ckpt << (base.empty() ? "" : " + " + base) << " in " << r.seconds << " s ("
      << r.config.unet.model_channels << " base channels, " << r.config.unet.num_control_outputs()
      << " control residuals)";
  for (const auto& n : r.notes) msg << "; " << n;
  host_.info(msg.str());
  if (!r.unused_keys.empty()) {
    std::ostringstream w;
    w << r.unused_keys.size() << " checkpoint tensors are not used, e.g. " << r.unused_keys.front();
    host_.warn(w.str());
  }
}

ControlNetSd15Sampler::~ControlNetSd15Sampler() = default;

sdk::OwnedTensor ControlNetSd15Sampler::sample(const sdk::SamplerInput& in, sdk::Call& call) {
  sdk::require_port(in.control, "control", "image");
  c10::InferenceMode guard;
  if (in.count > 1024)
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "count " + std::to_string(in.count) + " exceeds 1024 images per call");
  sd::GenerateRequest r;
  r.control = fit_control(sdk::as_tensor(in.control), resolution_);
  if (r.control.size(0) > kMaxSide || r.control.size(1) > kMaxSide)
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT,
                     "control map of " + std::to_string(r.control.size(0)) + "x" +
                         std::to_string(r.control.size(1)) + " exceeds 2048 pixels per side");
  r.prompt = in.prompt;
  r.negative_prompt = in.negative_prompt;
  r.seed = seed_ >= 0 ? uint64_t(seed_) : in.seed;
  r.count = int(in.count);
  r.sampler.kind = sd::parse_sampler_kind(sampler_);
  r.sampler.steps = steps_;
  r.sampler.eta = eta_;
  r.guidance.scale = guidance_;
  r.guidance.strength = strength_;
  r.guidance.guess_mode = guess_mode_;
  r.batch_size = batch_size_;
  call.check_cancelled();
  at::Tensor images = pipe_->generate(r, [&](int done, int total) {
    call.progress("step", uint64_t(done), uint64_t(total));
    call.check_cancelled();
  });
  return sdk::to_owned(images);
}

}  // namespace difss::plugins
