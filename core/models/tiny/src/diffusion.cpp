// The tiny ControlNet diffusion model on difss_sd's networks and schedulers.
#include <difss/tiny/diffusion.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <difss/sd/param_source.hpp>
#include <difss/weights/bind.hpp>
#include <difss/weights/load.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>

namespace difss::tiny {

sd::ModelConfig diffusion_config(int classes) {
  sd::ModelConfig c;
  sd::UNetConfig& u = c.unet;
  u.in_channels = 3 * kPixelPack * kPixelPack;
  u.out_channels = u.in_channels;
  u.model_channels = 32;
  u.channel_mult = {1, 2};
  u.num_res_blocks = {1, 1};
  u.attention_resolutions = {2};
  u.num_heads = -1;
  u.num_head_channels = 16;
  u.transformer_depth = 1;
  u.context_dim = 32;
  u.norm_groups = 8;
  u.hint_channels = 3;
  u.hint_block_channels = {16, 32};
  u.hint_block_strides = {2, 2, 1};  // 64x64 control -> 16x16 features, as SD's /8 hint encoder
  c.control = u;
  c.has_text_encoder = false;
  c.has_vae = false;
  c.has_vae_encoder = false;
  c.class_embed_classes = classes + 1;
  // DDPM's pixel-space schedule (Ho et al. 2020: betas 1e-4 .. 0.02), in ldm's "linear" form.
  c.schedule.timesteps = 1000;
  c.schedule.linear_start = 1e-4;
  c.schedule.linear_end = 2e-2;
  return c;
}

at::Tensor pack_image(const at::Tensor& x) { return at::pixel_unshuffle(at::avg_pool2d(x, kPool), kPixelPack); }
at::Tensor unpack_image(const at::Tensor& z) {
  const at::Tensor half = at::pixel_shuffle(z, kPixelPack);
  return at::upsample_bilinear2d(half, {half.size(2) * kPool, half.size(3) * kPool}, false);
}

at::Tensor diffusion_loss(const sd::ControlLDM& m, const at::Tensor& alphas_cumprod,
                          const at::Tensor& images, const at::Tensor& hints, const at::Tensor& rows,
                          const at::Tensor& t, const at::Tensor& noise) {
  const at::Tensor z0 = pack_image(images);
  const at::Tensor ac = alphas_cumprod.index_select(0, t).view({-1, 1, 1, 1});
  const at::Tensor xt = ac.sqrt() * z0 + (1 - ac).sqrt() * noise;
  const at::Tensor tf = t.to(at::kFloat);
  const at::Tensor ctx = sd::class_context(*m.class_embed, rows);
  const at::Tensor guided = sd::controlnet_hint(*m.control, hints);
  std::vector<at::Tensor> ctrl = sd::controlnet_forward(*m.control, xt, guided, tf, ctx);
  const at::Tensor v = sd::unet_forward(*m.unet, xt, tf, ctx, &ctrl);
  // v-prediction (Salimans & Ho 2022; ldm parameterization "v"): the target is mostly the clean
  // image at high noise and mostly the noise at low noise, which suits a tiny network.
  return at::mse_loss(v, ac.sqrt() * noise - (1 - ac).sqrt() * z0);
}

int TinyDiffusion::row_of(const std::string& name) const {
  for (size_t i = 0; i < class_names.size(); ++i)
    if (class_names[i] == name) return int(i) + 1;
  return 0;
}

TinyDiffusion load_tiny_diffusion(const std::string& path) {
  if (!std::filesystem::exists(path)) throw std::runtime_error(path + ": file not found");
  weights::StateDict sd = weights::load_safetensors(path);
  auto meta = sd.metadata.find("difss.sd.config");
  if (meta == sd.metadata.end())
    throw std::runtime_error(path + ": no \"difss.sd.config\" metadata: not a tiny-controlnet checkpoint");
  TinyDiffusion out;
  const sd::ModelConfig cfg = sd::ModelConfig::from_json(meta->second);
  if (!cfg.has_unet || !cfg.has_control || cfg.class_embed_classes < 1)
    throw std::runtime_error(path + ": the config has no UNet, ControlNet or class embedding");
  if (auto pr = sd.metadata.find(kMetaPrediction); pr == sd.metadata.end() || pr->second != "v")
    throw std::runtime_error(path + ": expected metadata " + kMetaPrediction + " = \"v\" (a v-prediction model)");
  if (auto r = sd.metadata.find(kMetaResolution); r != sd.metadata.end()) out.resolution = std::stoi(r->second);
  if (auto n = sd.metadata.find(kMetaClasses); n != sd.metadata.end())
    out.class_names = nlohmann::json::parse(n->second).get<std::vector<std::string>>();
  const int f = (1 << (cfg.unet.levels() - 1)) * kLatentFactor;
  if (out.resolution < f || out.resolution % f != 0 || out.resolution > 1024)
    throw std::runtime_error(path + ": bad " + kMetaResolution + " " + std::to_string(out.resolution));
  c10::InferenceMode guard;
  weights::BindOptions bo;
  bo.allow_unused = true;  // extra keys (position_ids, ...) are not this loader's concern
  weights::Binder binder(sd, bo);
  sd::ParamSource source = sd::ParamSource::loading(binder, at::kFloat);
  out.model = sd::ControlLDM::build(cfg, source);
  binder.finish();
  out.schedule = out.model.schedule.alphas_cumprod.defined()
                     ? sd::NoiseSchedule::from_alphas_cumprod(out.model.schedule.alphas_cumprod)
                     : sd::NoiseSchedule::linear(cfg.schedule);
  return out;
}

at::Tensor sample_tiny(const TinyDiffusion& m, const TinySampleRequest& r,
                       const std::function<void(int, int)>& on_step) {
  c10::InferenceMode guard;
  const int64_t S = m.resolution;
  if (!r.control.defined() || r.control.dim() != 3 || r.control.size(0) != S || r.control.size(1) != S ||
      r.control.size(2) != 3 || r.control.scalar_type() != at::kByte)
    throw std::invalid_argument("tiny-controlnet: control must be uint8 [" + std::to_string(S) + ", " +
                                std::to_string(S) + ", 3]");
  if (r.count < 1) throw std::invalid_argument("tiny-controlnet: count must be >= 1");
  if (r.row < 0 || r.row >= m.model.cfg.class_embed_classes)
    throw std::invalid_argument("tiny-controlnet: class row " + std::to_string(r.row) + " out of range");
  const sd::ControlLDM& net = m.model;
  sd::ControlledDenoiser den(*net.unet, *net.control);
  den.set_hint(r.control.to(at::kFloat).div(255.0).permute({2, 0, 1}).unsqueeze(0));
  const at::Tensor cond = sd::class_context(*net.class_embed, at::full({1}, r.row, at::kLong));
  const at::Tensor uncond = sd::class_context(*net.class_embed, at::zeros({1}, at::kLong));
  sd::GuidanceSettings g;
  g.scale = r.guidance;
  g.strength = r.strength;
  sd::SamplerSettings st;
  st.kind = sd::SamplerKind::Ddim;
  st.steps = r.steps;
  st.eta = r.eta;
  const int64_t C = net.unet->cfg.in_channels, h = S / kLatentFactor;
  const int batch = std::max(1, r.batch_size);
  const int n_batches = (r.count + batch - 1) / batch;
  const int steps = int(sd::ddim_timesteps(r.steps, m.schedule.timesteps()).size());
  at::Tensor images = at::empty({r.count, S, S, 3}, at::kByte);
  for (int bi = 0; bi < n_batches; ++bi) {
    const int k0 = bi * batch, k1 = std::min(r.count, k0 + batch);
    std::vector<at::Generator> gens;
    std::vector<at::Tensor> x0;
    for (int k = k0; k < k1; ++k) {  // per-image generators: an image never depends on its batch
      gens.push_back(at::make_generator<at::CPUGeneratorImpl>(sd::image_seed(r.seed, uint64_t(k))));
      x0.push_back(at::randn({1, C, h, h}, gens.back(), at::TensorOptions().dtype(at::kFloat)));
    }
    sd::NoiseFn noise = [&]() {
      std::vector<at::Tensor> n;
      for (auto& gen : gens) n.push_back(at::randn({1, C, h, h}, gen, at::TensorOptions().dtype(at::kFloat)));
      return at::cat(n, 0);
    };
    // Guided v -> x0, clipped to the latent's range [-1, 1] (DDPM's clip_denoised: the fixed
    // encoder is an average of pixels in [-1, 1]), -> eps for the shared DDIM scheduler.
    sd::EpsFn eps = [&](const at::Tensor& x, double t) {
      const double ac = m.schedule.alphas_cumprod.at(size_t(std::clamp<int64_t>(std::llround(t), 0, m.schedule.timesteps() - 1)));
      const at::Tensor v = den.eps(x, t, cond, uncond, g);
      const at::Tensor x0 = (x * std::sqrt(ac) - v * std::sqrt(1 - ac)).clamp(-1, 1);
      return (x - x0 * std::sqrt(ac)) / std::sqrt(1 - ac);
    };
    sd::StepFn step = [&](int done, int) {
      if (on_step) on_step(bi * steps + done, n_batches * steps);
    };
    at::Tensor z = sd::run_sampler(st, m.schedule, at::cat(x0, 0), eps, noise, step);
    at::Tensor img = unpack_image(z).clamp(-1, 1);
    img = (img.permute({0, 2, 3, 1}) * 127.5 + 127.5).round().clamp(0, 255).to(at::kByte);
    images.slice(0, k0, k1).copy_(img);
  }
  return images;
}

}  // namespace difss::tiny
