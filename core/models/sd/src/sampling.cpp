// Schedulers, the guided ControlNet denoiser and the text-to-image pipeline.
#include <difss/sd/pipeline.hpp>
#include <difss/weights/load.hpp>
#include <difss/sd/sampling.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace difss::sd {

// ================================ schedules =======================================================

SamplerKind parse_sampler_kind(const std::string& n) {
  if (n == "ddim") return SamplerKind::Ddim;
  if (n == "dpmpp-2m") return SamplerKind::Dpmpp2M;
  if (n == "dpmpp-2m-karras") return SamplerKind::Dpmpp2MKarras;
  if (n == "euler-a") return SamplerKind::EulerAncestral;
  throw std::invalid_argument("unknown sampler '" + n +
                              "' (ddim, dpmpp-2m, dpmpp-2m-karras, euler-a)");
}

const char* sampler_kind_name(SamplerKind k) {
  switch (k) {
    case SamplerKind::Ddim: return "ddim";
    case SamplerKind::Dpmpp2M: return "dpmpp-2m";
    case SamplerKind::Dpmpp2MKarras: return "dpmpp-2m-karras";
    case SamplerKind::EulerAncestral: return "euler-a";
  }
  return "?";
}

NoiseSchedule NoiseSchedule::linear(const ScheduleConfig& c) {
  if (c.timesteps < 2 || c.timesteps > 100000)
    throw std::invalid_argument("schedule: timesteps must be in [2, 100000]");
  NoiseSchedule s;
  const double a = std::sqrt(c.linear_start), b = std::sqrt(c.linear_end);
  double prod = 1;
  for (int i = 0; i < c.timesteps; ++i) {
    const double x = a + (b - a) * double(i) / double(c.timesteps - 1);
    prod *= 1.0 - x * x;
    s.alphas_cumprod.push_back(float(prod));
  }
  return s;
}

NoiseSchedule NoiseSchedule::from_alphas_cumprod(const at::Tensor& ac) {
  at::Tensor f = ac.to(at::kCPU, at::kFloat).contiguous();
  NoiseSchedule s;
  s.alphas_cumprod.assign(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
  for (size_t i = 0; i < s.alphas_cumprod.size(); ++i) {
    const float v = s.alphas_cumprod[i];
    if (!(v > 0.f && v <= 1.f) || (i && v > s.alphas_cumprod[i - 1]))
      throw std::invalid_argument("schedule: alphas_cumprod must decrease within (0, 1]");
  }
  if (s.alphas_cumprod.size() < 2) throw std::invalid_argument("schedule: too few timesteps");
  return s;
}

double NoiseSchedule::sigma(int t) const {
  const double a = alphas_cumprod.at(size_t(t));
  return std::sqrt((1.0 - a) / a);
}

double NoiseSchedule::sigma_to_t(double s) const {
  const int T = timesteps();
  const double ls = std::log(s);
  int low = 0;  // last index whose log sigma is <= log s (k-diffusion: cumsum(dists >= 0).argmax)
  for (int i = 0; i < T; ++i)
    if (ls - std::log(sigma(i)) >= 0) low = i;
  low = std::min(low, T - 2);
  const double lo = std::log(sigma(low)), hi = std::log(sigma(low + 1));
  const double w = std::clamp((lo - ls) / (lo - hi), 0.0, 1.0);
  return (1 - w) * low + w * (low + 1);
}

double NoiseSchedule::t_to_sigma(double t) const {
  const int lo = int(std::floor(t)), hi = int(std::ceil(t));
  const double w = t - std::floor(t);
  return std::exp((1 - w) * std::log(sigma(lo)) + w * std::log(sigma(hi)));
}

std::vector<int64_t> ddim_timesteps(int steps, int T) {
  if (steps < 1 || steps > T)
    throw std::invalid_argument("DDIM: steps must be in [1, " + std::to_string(T) + "]");
  const int c = T / steps;
  std::vector<int64_t> ts;
  for (int t = 0; t < T; t += c) ts.push_back(t + 1);
  return ts;
}

DdimCoefficients ddim_coefficients(const NoiseSchedule& s, int steps, double eta) {
  DdimCoefficients d;
  d.timesteps = ddim_timesteps(steps, s.timesteps());
  const auto& ac = s.alphas_cumprod;
  for (size_t i = 0; i < d.timesteps.size(); ++i) {
    const size_t t = size_t(std::min<int64_t>(d.timesteps[i], s.timesteps() - 1));
    const float a = ac[t];
    const float ap = i == 0 ? ac[0] : ac[size_t(d.timesteps[i - 1])];
    d.alphas.push_back(a);
    d.alphas_prev.push_back(ap);
    // eta * sqrt((1 - a_prev) / (1 - a) * (1 - a / a_prev)), computed in float64 as numpy does
    d.sigmas.push_back(float(eta * std::sqrt((1.0 - double(ap)) / (1.0 - double(a)) *
                                             (1.0 - double(a) / double(ap)))));
    d.sqrt_one_minus_alphas.push_back(std::sqrt(1.0f - a));
  }
  return d;
}

std::vector<double> discrete_sigmas(const NoiseSchedule& s, int steps) {
  if (steps < 1) throw std::invalid_argument("sampler: steps must be >= 1");
  std::vector<double> out;
  const double t_max = s.timesteps() - 1;
  for (int i = 0; i < steps; ++i) {
    const double t = steps == 1 ? t_max : t_max - t_max * double(i) / double(steps - 1);
    out.push_back(s.t_to_sigma(t));
  }
  out.push_back(0.0);
  return out;
}

std::vector<double> karras_sigmas(int steps, double smin, double smax, double rho) {
  if (steps < 1) throw std::invalid_argument("sampler: steps must be >= 1");
  std::vector<double> out;
  const double lo = std::pow(smin, 1.0 / rho), hi = std::pow(smax, 1.0 / rho);
  for (int i = 0; i < steps; ++i) {
    const double ramp = steps == 1 ? 0.0 : double(i) / double(steps - 1);
    out.push_back(std::pow(hi + ramp * (lo - hi), rho));
  }
  out.push_back(0.0);
  return out;
}

namespace {

// [1, 1, 1, 1] float32 coefficient: ldm multiplies by torch.full((b, 1, 1, 1), v) tensors.
at::Tensor coef(float v, const at::Tensor& like) {
  return at::full({1, 1, 1, 1}, v, like.options().dtype(at::kFloat));
}

at::Tensor sample_ddim(const SamplerSettings& st, const NoiseSchedule& s, at::Tensor x,
                       const EpsFn& eps, const NoiseFn& noise, const StepFn& on_step) {
  const DdimCoefficients d = ddim_coefficients(s, st.steps, st.eta);
  const int total = int(d.timesteps.size());
  for (int i = 0; i < total; ++i) {
    const int index = total - i - 1;
    const at::Tensor e = eps(x, double(d.timesteps[size_t(index)]));
    const float a_t = d.alphas[size_t(index)], a_prev = d.alphas_prev[size_t(index)];
    const float sigma = d.sigmas[size_t(index)], s1m = d.sqrt_one_minus_alphas[size_t(index)];
    const at::Tensor pred_x0 = (x - coef(s1m, x) * e) / coef(std::sqrt(a_t), x);
    const at::Tensor dir_xt = coef(std::sqrt(1.0f - a_prev - sigma * sigma), x) * e;
    x = coef(std::sqrt(a_prev), x) * pred_x0 + dir_xt;
    if (sigma != 0.f) x = x + coef(sigma, x) * noise().to(x.device());
    if (on_step) on_step(i + 1, total);
  }
  return x;
}

// CompVisDenoiser: denoised = x - sigma * eps(x / sqrt(sigma^2 + 1), t(sigma)).
at::Tensor denoise(const NoiseSchedule& s, const EpsFn& eps, const at::Tensor& x, double sigma) {
  const double c_in = 1.0 / std::sqrt(sigma * sigma + 1.0);
  return x + eps(x * c_in, s.sigma_to_t(sigma)) * (-sigma);
}

at::Tensor sample_euler_ancestral(const std::vector<double>& sig, const NoiseSchedule& s,
                                  at::Tensor x, const EpsFn& eps, const NoiseFn& noise,
                                  const StepFn& on_step) {
  const int total = int(sig.size()) - 1;
  x = x * sig[0];
  for (int i = 0; i < total; ++i) {
    const at::Tensor den = denoise(s, eps, x, sig[size_t(i)]);
    const double from = sig[size_t(i)], to = sig[size_t(i) + 1];
    // get_ancestral_step(eta = 1)
    const double up = std::min(to, std::sqrt(to * to * (from * from - to * to) / (from * from)));
    const double down = std::sqrt(to * to - up * up);
    const at::Tensor dir = (x - den) / from;
    x = x + dir * (down - from);
    if (to > 0) x = x + noise().to(x.device()) * up;
    if (on_step) on_step(i + 1, total);
  }
  return x;
}

at::Tensor sample_dpmpp_2m(const std::vector<double>& sig, const NoiseSchedule& s, at::Tensor x,
                           const EpsFn& eps, const StepFn& on_step) {
  const int total = int(sig.size()) - 1;
  x = x * sig[0];
  auto t_fn = [](double sigma) { return -std::log(sigma); };
  at::Tensor old_den;
  for (int i = 0; i < total; ++i) {
    const at::Tensor den = denoise(s, eps, x, sig[size_t(i)]);
    const double t = t_fn(sig[size_t(i)]);
    const double next = sig[size_t(i) + 1];
    if (next == 0) {  // last step: denoised (t_next = inf)
      x = den;
    } else {
      const double t_next = t_fn(next), h = t_next - t;
      const double ratio = next / sig[size_t(i)];  // sigma_fn(t_next) / sigma_fn(t)
      const double em1 = std::expm1(-h);
      if (!old_den.defined()) {
        x = x * ratio - den * em1;
      } else {
        const double h_last = t - t_fn(sig[size_t(i) - 1]);
        const double r = h_last / h;
        const at::Tensor den_d = den * (1 + 1 / (2 * r)) - old_den * (1 / (2 * r));
        x = x * ratio - den_d * em1;
      }
    }
    old_den = den;
    if (on_step) on_step(i + 1, total);
  }
  return x;
}

}  // namespace

at::Tensor run_sampler(const SamplerSettings& st, const NoiseSchedule& s, const at::Tensor& x_T,
                       const EpsFn& eps, const NoiseFn& noise, const StepFn& on_step) {
  if (st.steps < 1 || st.steps > s.timesteps())
    throw std::invalid_argument("sampler: steps must be in [1, " + std::to_string(s.timesteps()) + "]");
  if (st.eta < 0) throw std::invalid_argument("sampler: eta must be >= 0");
  switch (st.kind) {
    case SamplerKind::Ddim: return sample_ddim(st, s, x_T, eps, noise, on_step);
    case SamplerKind::Dpmpp2M:
      return sample_dpmpp_2m(discrete_sigmas(s, st.steps), s, x_T, eps, on_step);
    case SamplerKind::Dpmpp2MKarras:
      return sample_dpmpp_2m(karras_sigmas(st.steps, s.sigma_min(), s.sigma_max()), s, x_T, eps,
                             on_step);
    case SamplerKind::EulerAncestral:
      return sample_euler_ancestral(discrete_sigmas(s, st.steps), s, x_T, eps, noise, on_step);
  }
  throw std::invalid_argument("sampler: unknown kind");
}

// ================================ guided ControlNet ===============================================

std::vector<double> control_scales(int n, double strength, bool guess_mode) {
  std::vector<double> s;
  for (int i = 0; i < n; ++i) s.push_back(guess_mode ? strength * std::pow(0.825, double(12 - i)) : strength);
  return s;
}

ControlledDenoiser::ControlledDenoiser(const UNet& unet, const ControlNet& control)
    : unet_(unet), control_(control) {}

void ControlledDenoiser::set_hint(const at::Tensor& hint01) {
  c10::InferenceMode guard;
  guided_hint_ = controlnet_hint(control_, hint01);
}

at::Tensor ControlledDenoiser::eps(const at::Tensor& x, double t, const at::Tensor& cond,
                                   const at::Tensor& uncond, const GuidanceSettings& g) const {
  c10::InferenceMode guard;
  if (!guided_hint_.defined()) throw std::logic_error("ControlledDenoiser: set_hint() first");
  const int64_t B = x.size(0);
  auto expand = [&](const at::Tensor& c) { return c.size(0) == B ? c : c.expand({B, c.size(1), c.size(2)}); };
  const int n = int(control_.zero_convs.size()) + 1;
  const std::vector<double> scales = control_scales(n, g.strength, g.guess_mode);
  auto scaled = [&](std::vector<at::Tensor> c) {
    for (size_t i = 0; i < c.size(); ++i) c[i] = c[i] * scales[i];
    return c;
  };
  auto hint_for = [&](int64_t batch) {
    const at::Tensor& h = guided_hint_;
    if (h.size(0) == 1 || h.size(0) == batch) return h;
    return h.repeat({batch / h.size(0), 1, 1, 1});
  };
  const auto topt = at::TensorOptions().dtype(at::kFloat).device(x.device());
  if (g.scale == 1.0) {  // ldm: no unconditional pass
    const at::Tensor tt = at::full({B}, t, topt);
    const at::Tensor c = expand(cond);
    std::vector<at::Tensor> ctrl = scaled(controlnet_forward(control_, x, hint_for(B), tt, c));
    return unet_forward(unet_, x, tt, c, &ctrl);
  }
  const at::Tensor x2 = at::cat({x, x}, 0);
  const at::Tensor t2 = at::full({2 * B}, t, topt);
  const at::Tensor ctx = at::cat({expand(uncond).to(cond.scalar_type()), expand(cond)}, 0);
  std::vector<at::Tensor> ctrl;
  if (g.guess_mode) {  // cldm: c_concat None for the unconditional branch -> no control there
    const at::Tensor tt = at::full({B}, t, topt);
    ctrl = scaled(controlnet_forward(control_, x, hint_for(B), tt, expand(cond)));
    for (at::Tensor& c : ctrl) c = at::cat({at::zeros_like(c), c}, 0);
  } else {
    ctrl = scaled(controlnet_forward(control_, x2, hint_for(2 * B), t2, ctx));
  }
  const at::Tensor out = unet_forward(unet_, x2, t2, ctx, &ctrl);
  const at::Tensor e_uncond = out.slice(0, 0, B), e_cond = out.slice(0, B, 2 * B);
  return e_uncond + (e_cond - e_uncond) * g.scale;
}

uint64_t image_seed(uint64_t seed, uint64_t k) {
  uint64_t z = seed + (k + 1) * 0x9E3779B97F4A7C15ull;  // SplitMix64, output number k + 1
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// ================================ pipeline ========================================================

at::Tensor initial_latents(uint64_t seed, uint64_t k, int64_t channels, int64_t h, int64_t w) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(image_seed(seed, k));
  return at::randn({1, channels, h, w}, gen, at::TensorOptions().dtype(at::kFloat));
}

ControlNetPipeline::ControlNetPipeline(LoadedModel model, std::optional<ClipTokenizer> tokenizer)
    : model_(std::move(model)), tokenizer_(std::move(tokenizer)) {
  const ControlLDM& m = model_.model;
  if (!m.unet || !m.control || !m.vae_decoder)
    throw std::invalid_argument("ControlNetPipeline: the model needs a UNet, a ControlNet and a VAE decoder");
  if (m.clip && !tokenizer_)
    throw std::invalid_argument("ControlNetPipeline: a CLIP text encoder needs the BPE vocabulary");
  schedule_ = m.schedule.alphas_cumprod.defined()
                  ? NoiseSchedule::from_alphas_cumprod(m.schedule.alphas_cumprod)
                  : NoiseSchedule::linear(m.cfg.schedule);
}

std::unique_ptr<ControlNetPipeline> ControlNetPipeline::load(const CheckpointSpec& spec,
                                                             const LoadOptions& options,
                                                             const std::string& vocab) {
  std::optional<ClipTokenizer> tok;
  if (options.text_encoder) tok = ClipTokenizer::from_file(vocab);
  c10::InferenceMode guard;
  LoadedModel model = load_control_ldm(spec, options);
  if (options.pack_conv_weights && options.device.is_cpu()) {
    const int n = pack_conv_weights(*model.model.unet) + pack_conv_weights(*model.model.control);
    model.report.notes.push_back(std::to_string(n) + " convolution weights packed for oneDNN");
    // (packing gave each mapped float32 original's pages back as it went: pack(), models.cpp)
  }
  if (model.model.unet) model.model.unet->release_weights_after_block = options.release_block_weights;
  if (model.model.control) model.model.control->release_weights_after_block = options.release_block_weights;
  return std::make_unique<ControlNetPipeline>(std::move(model), std::move(tok));
}

at::Tensor ControlNetPipeline::text_context(const std::string& prompt) {
  for (auto it = prompt_cache_.begin(); it != prompt_cache_.end(); ++it)
    if (it->first == prompt) {
      prompt_cache_.splice(prompt_cache_.begin(), prompt_cache_, it);
      return it->second;
    }
  const ControlLDM& m = model_.model;
  if (!m.clip) throw std::logic_error("this model has no text encoder; give contexts directly");
  c10::InferenceMode guard;
  std::vector<int32_t> ids = tokenizer_->encode_padded(prompt, m.cfg.clip.max_positions);
  at::Tensor t = at::empty({1, int64_t(ids.size())}, at::kLong);
  for (size_t i = 0; i < ids.size(); ++i) t[0][int64_t(i)] = int64_t(ids[i]);
  at::Tensor ctx = clip_text_forward(*m.clip, t);
  prompt_cache_.emplace_front(prompt, ctx);
  if (prompt_cache_.size() > 64) prompt_cache_.pop_back();
  return ctx;
}

at::Tensor ControlNetPipeline::generate(const GenerateRequest& r, const StepFn& on_step) {
  const ControlLDM& m = model_.model;
  if (r.count < 1) throw std::invalid_argument("generate: count must be >= 1");
  if (!r.control.defined() || r.control.dim() != 3 || r.control.size(2) != 3 ||
      r.control.scalar_type() != at::kByte)
    throw std::invalid_argument("generate: control must be uint8 [H, W, 3]");
  const int64_t H = r.control.size(0), W = r.control.size(1);
  const int64_t f = m.vae_decoder->cfg.downsample_factor();
  if (H % f != 0 || W % f != 0)
    throw std::invalid_argument("generate: control size " + std::to_string(H) + "x" +
                                std::to_string(W) + " is not a multiple of " + std::to_string(f));
  const at::Tensor cond = text_context(r.prompt);
  const at::Tensor uncond = r.guidance.scale == 1.0 ? cond : text_context(r.negative_prompt);
  // Keep only the stage that runs resident (mapped float32 weights; a no-op otherwise).
  weights::release_mapped_pages(model_.text_weights);
  c10::InferenceMode guard;
  const c10::Device dev = m.unet->time1.w.device();
  ControlledDenoiser den(*m.unet, *m.control);
  // control = torch.from_numpy(detected_map).float() / 255.0, 'b h w c -> b c h w'
  den.set_hint(r.control.to(at::kFloat).div(255.0).permute({2, 0, 1}).unsqueeze(0).to(dev));
  const int64_t C = m.unet->cfg.in_channels, h = H / f, w = W / f;
  const int batch = std::max(1, r.batch_size);
  const int n_batches = (r.count + batch - 1) / batch;
  const int steps = r.sampler.kind == SamplerKind::Ddim
                        ? int(ddim_timesteps(r.sampler.steps, schedule_.timesteps()).size())
                        : r.sampler.steps;
  at::Tensor images = at::empty({r.count, H, W, 3}, at::kByte);
  for (int bi = 0; bi < n_batches; ++bi) {
    const int k0 = bi * batch, k1 = std::min(r.count, k0 + batch);
    std::vector<at::Generator> gens;
    std::vector<at::Tensor> x0;
    for (int k = k0; k < k1; ++k) {
      gens.push_back(at::make_generator<at::CPUGeneratorImpl>(image_seed(r.seed, uint64_t(k))));
      x0.push_back(at::randn({1, C, h, w}, gens.back(), at::TensorOptions().dtype(at::kFloat)));
    }
    NoiseFn noise = [&]() {
      std::vector<at::Tensor> n;
      for (auto& g : gens) n.push_back(at::randn({1, C, h, w}, g, at::TensorOptions().dtype(at::kFloat)));
      return at::cat(n, 0);
    };
    EpsFn eps = [&](const at::Tensor& x, double t) {
      return den.eps(x, t, cond, uncond, r.guidance).to(at::kFloat);
    };
    StepFn step = [&](int done, int) {
      if (on_step) on_step(bi * steps + done, n_batches * steps);
    };
    at::Tensor z = run_sampler(r.sampler, schedule_, at::cat(x0, 0).to(dev), eps, noise, step);
    weights::release_mapped_pages(model_.denoiser_weights);
    for (int k = k0; k < k1; ++k) {  // decode one image at a time (memory at 512x512)
      at::Tensor img = vae_decode(*m.vae_decoder, z.slice(0, k - k0, k - k0 + 1));
      // (x * 127.5 + 127.5).clip(0, 255).astype(uint8): truncation, as numpy does
      img = (img.permute({0, 2, 3, 1}) * 127.5 + 127.5).clamp(0, 255).to(at::kCPU).to(at::kByte);
      images[k].copy_(img[0]);
    }
    weights::release_mapped_pages(model_.vae_weights);
  }
  return images;
}

}  // namespace difss::sd
