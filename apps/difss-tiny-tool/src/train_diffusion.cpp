// Training the tiny ControlNet diffusion model (plugins/sampler/tiny-controlnet) on `synthetic`.
//
// Data: every step draws `batch` images of the training stream of ALL 20 classes (the generator
// plays Stable Diffusion's part, which has seen the novel classes too; only the segmenter keeps
// the base/novel split). Control = the seg-palette map of the mask: background (120, 120, 120),
// foreground in a random ADE palette colour (so any class -> colour mapping works at inference).
// The class row is dropped to the null row with probability class_dropout (classifier-free
// guidance). UNet, ControlNet and class embedding are trained jointly from scratch with the
// epsilon-prediction MSE; the checkpoint holds an exponential moving average of the weights.
#include <difss/train/train.hpp>

#include <difss/core/threads.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <difss/condition/ade_tables.hpp>
#include <difss/data/synthetic.hpp>
#include <difss/sd/param_source.hpp>
#include <difss/weights/bind.hpp>
#include <difss/tiny/diffusion.hpp>
#include <difss/weights/save.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "train_common.hpp"

namespace difss::train {

namespace {

constexpr std::uint64_t kPurposeBatch = 0xD1FF0001, kPurposeNoise = 0xD1FF0002, kPurposeEval = 0xD1FF0003;

struct Batch {
  at::Tensor images, hints, rows, t, noise;
};

Batch make_batch(const DiffusionTrainOptions& o, int step, int64_t in_ch, int64_t latent) {
  std::vector<at::Tensor> imgs, hints;
  std::vector<int64_t> rows, ts;
  data::SyntheticDrawOptions draw;
  draw.size = o.size;  // dataset seed 0 (the images a pipeline sees); o.seed picks which
  draw.world = data::synthetic_world(o.world);
  for (int i = 0; i < o.batch; ++i) {
    Stream s(o.seed, kPurposeBatch, std::uint64_t(step) * std::uint64_t(o.batch) + std::uint64_t(i));
    const int cls = 1 + int(s.below(data::kSyntheticClasses));
    const std::uint64_t n = s.next() >> 20;
    cv::Mat rgb, mask;
    data::draw_synthetic(cls, data::SyntheticStream::training, n, draw, &rgb, &mask);
    const auto colour = condition::ade::palette(1 + int(s.below(condition::ade::kClassCount - 1)));
    if (s.uniform() < 0.5) {  // horizontal flip (the families are symmetric under it up to pose)
      cv::flip(rgb, rgb, 1);
      cv::flip(mask, mask, 1);
    }
    imgs.push_back(image_to_tensor(rgb));
    hints.push_back(image_to_tensor(palette_control(mask, colour), true));
    rows.push_back(s.uniform() < o.class_dropout ? 0 : cls);
    ts.push_back(int64_t(s.below(1000)));
  }
  Batch b;
  b.images = at::stack(imgs);
  b.hints = at::stack(hints);
  b.rows = at::tensor(rows, at::kLong);
  b.t = at::tensor(ts, at::kLong);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(Stream(o.seed, kPurposeNoise, std::uint64_t(step)).next());
  b.noise = at::randn({o.batch, in_ch, latent, latent}, gen, at::TensorOptions().dtype(at::kFloat));
  return b;
}

// ldm's initialisation on top of the binder's random draw: PyTorch's default scale for
// convolutions and linear layers (std 1/sqrt(3 fan_in)) and zero_module() for the last conv of
// every ResBlock, every SpatialTransformer's proj_out and the UNet's output conv, so that the
// residual stacks start as identities. Unlike cldm, the ControlNet's zero convs are NOT zeroed:
// here the UNet is trained jointly from scratch (nothing to protect) and the control must act
// from the first step.
void init_like_ldm(std::vector<std::pair<std::string, at::Tensor>>& named) {
  at::NoGradGuard ng;
  const std::string unet_out = std::string(sd::prefix::unet) + "out.2.";
  for (auto& [name, t] : named) {
    const bool zero = name.find(".out_layers.3.") != std::string::npos || name.find(".proj_out.") != std::string::npos ||
                      name.rfind(unet_out, 0) == 0;
    if (zero)
      t.zero_();
    else if (t.dim() >= 2 && name.rfind(sd::prefix::class_embed, 0) != 0)
      t.mul_(1.0 / std::sqrt(3.0));
  }
}

std::vector<std::string> class_names(data::SyntheticWorld world) {
  std::vector<std::string> v;
  for (const auto& c : data::synthetic_classes(world)) v.push_back(c.name);
  return v;
}

}  // namespace

DiffusionEvaluation evaluate_diffusion(const tiny::TinyDiffusion& td, const std::string& world, int supports,
                                       std::uint64_t seed) {
  if (supports < 1) throw std::invalid_argument("evaluate diffusion: supports must be >= 1");
  // Do generated images follow their masks? Supports of the evaluation stream (all classes),
  // control in the class's seg-palette colour, 20 DDIM steps, guidance 2. In the varied world
  // colours belong to instances, so the measure takes every saturated pixel (class 0), and each
  // support also gets 3 more samples for the appearance spread.
  double sum = 0, real_sum = 0, spread = 0, real_spread = 0;
  data::SyntheticDrawOptions draw;
  draw.size = td.resolution;
  draw.world = data::synthetic_world(world);
  const bool varied = draw.world == data::SyntheticWorld::varied;
  const int samples = varied ? 4 : 1;
  for (int i = 0; i < supports; ++i) {
    const int cls = 1 + i % data::kSyntheticClasses, measured = varied ? 0 : cls;
    cv::Mat rgb, mask;
    data::draw_synthetic(cls, data::SyntheticStream::evaluation, std::uint64_t(i), draw, &rgb, &mask);
    const std::string& name = td.class_names[size_t(cls - 1)];
    const cv::Mat ctl = palette_control(mask, condition::ade::palette(condition::ade::hashed_index(name)));
    std::vector<ColourHistogram> gen_hist, real_hist;
    for (int k = 0; k < samples; ++k) {
      tiny::TinySampleRequest req;
      req.control = at::from_blob(ctl.data, {ctl.rows, ctl.cols, 3}, at::kByte).clone();
      req.row = cls;
      req.seed = Stream(seed, kPurposeEval, std::uint64_t(i) + 1000003ULL * std::uint64_t(k)).next();
      const cv::Mat img = tensor_to_image(tiny::sample_tiny(td, req)[0]);
      if (k == 0) sum += mask_iou(data::synthetic_palette_mask(img, measured), mask);
      gen_hist.push_back(colour_histogram(img, mask));
      cv::Mat other_rgb = rgb, other_mask = mask;  // real images of the class: the support, then 3 more
      if (k > 0)
        data::draw_synthetic(cls, data::SyntheticStream::evaluation, std::uint64_t(1000 + 4 * i + k), draw, &other_rgb,
                             &other_mask);
      real_hist.push_back(colour_histogram(other_rgb, other_mask));
    }
    real_sum += mask_iou(data::synthetic_palette_mask(rgb, measured), mask);
    spread += histogram_spread(gen_hist);
    real_spread += histogram_spread(real_hist);
  }
  DiffusionEvaluation ev;
  ev.mask_iou = sum / supports;
  ev.real_mask_iou = real_sum / supports;
  ev.sample_spread = spread / supports;
  ev.real_spread = real_spread / supports;
  return ev;
}

DiffusionTrainResult train_diffusion(const DiffusionTrainOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.steps < 1 || o.batch < 1) throw std::invalid_argument("train diffusion: steps and batch must be >= 1");
  if (o.size % 8 != 0 || o.size < 16 || o.size > 256) throw std::invalid_argument("train diffusion: size must be a multiple of 8 in 16..256");
  configure_threads(std::max(1, o.threads));  // no-op when the process has set its threads
  at::manual_seed(o.seed);
  const sd::ModelConfig cfg = tiny::diffusion_config(data::kSyntheticClasses);
  sd::ParamSource random = sd::ParamSource::random(o.seed, at::kFloat, c10::Device(c10::kCPU));
  sd::ControlLDM model = sd::ControlLDM::build(cfg, random);
  std::vector<std::pair<std::string, at::Tensor>> named = random.produced();
  init_like_ldm(named);
  std::vector<at::Tensor> params, ema;
  for (auto& [name, t] : named) {
    t.requires_grad_(true);
    params.push_back(t);
    ema.push_back(t.detach().clone());
  }
  const sd::NoiseSchedule sched = sd::NoiseSchedule::linear(cfg.schedule);
  const at::Tensor alphas = at::tensor(sched.alphas_cumprod, at::kFloat);
  Adam opt(params);
  const double ema_decay = 0.995;
  const int64_t in_ch = cfg.unet.in_channels, latent = o.size / tiny::kLatentFactor;

  DiffusionTrainResult r;
  for (int step = 0; step < o.steps; ++step) {
    const Batch b = make_batch(o, step, in_ch, latent);
    opt.zero_grad();
    at::Tensor loss = tiny::diffusion_loss(model, alphas, b.images, b.hints, b.rows, b.t, b.noise);
    loss.backward();
    opt.clip_grad_norm(1.0);
    opt.step(lr_at(step, o.steps, o.warmup, o.lr));
    {
      at::NoGradGuard ng;
      const double d = std::min(ema_decay, double(step + 1) / double(step + 10));
      for (size_t i = 0; i < params.size(); ++i) ema[i].mul_(d).add_(params[i].detach(), 1 - d);
    }
    r.log.loss.push_back(loss.item<double>());
    if (o.on_step) o.on_step(step, r.log.loss.back());
  }
  r.final_loss = r.log.mean_last(50);

  // The trained (EMA) weights as a TinyDiffusion for evaluation and saving.
  tiny::TinyDiffusion td;
  {
    c10::InferenceMode guard;
    weights::StateDict trained("trained weights");
    for (size_t i = 0; i < named.size(); ++i) trained.insert(named[i].first, ema[i]);
    weights::Binder binder(trained);
    sd::ParamSource source = sd::ParamSource::loading(binder, at::kFloat);
    td.model = sd::ControlLDM::build(cfg, source);
    binder.finish();
    td.schedule = sched;
    td.resolution = o.size;
    td.class_names = class_names(data::synthetic_world(o.world));
  }

  if (o.eval_supports > 0) {
    const DiffusionEvaluation ev = evaluate_diffusion(td, o.world, o.eval_supports, o.seed);
    r.mask_iou = ev.mask_iou;
    r.real_mask_iou = ev.real_mask_iou;
    r.sample_spread = ev.sample_spread;
    r.real_spread = ev.real_spread;
  }

  if (!o.out.empty()) {
    std::filesystem::create_directories(o.out);
    weights::StateDict sd;
    for (size_t i = 0; i < named.size(); ++i) sd.insert(named[i].first, ema[i].contiguous());
    sd.insert("alphas_cumprod", alphas);
    nlohmann::json names = td.class_names;
    weights::save_safetensors(std::filesystem::path(o.out) / "tiny_controlnet.safetensors", sd,
                              {{"difss.sd.config", cfg.to_json()},
                               {tiny::kMetaResolution, std::to_string(o.size)},
                               {tiny::kMetaPrediction, "v"},
                               {tiny::kMetaClasses, names.dump()}});
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace difss::train
