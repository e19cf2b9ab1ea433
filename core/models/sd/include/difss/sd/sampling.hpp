// Schedulers (one place for every sampler of difss) and classifier-free-guided ControlNet
// denoising. Formulas and their sources are listed in core/models/sd/README.md:
//   ddim             ldm DDIMSampler ("uniform" timesteps range(0, T, T // S) + 1, eta, linear
//                    schedule alphas), as used by cldm's ddim_hacked.py
//   dpmpp-2m         k-diffusion sample_dpmpp_2m on the discrete CompVis sigmas (get_sigmas)
//   dpmpp-2m-karras  the same on Karras et al. sigmas (rho 7, sigma_min/max of the schedule)
//   euler-a          k-diffusion sample_euler_ancestral (eta 1) on the discrete sigmas
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <difss/sd/config.hpp>
#include <difss/sd/models.hpp>

namespace difss::sd {

enum class SamplerKind { Ddim, Dpmpp2M, Dpmpp2MKarras, EulerAncestral };
// "ddim", "dpmpp-2m", "dpmpp-2m-karras", "euler-a"; throws std::invalid_argument otherwise.
SamplerKind parse_sampler_kind(const std::string& name);
const char* sampler_kind_name(SamplerKind kind);

// The discrete DDPM schedule: alphas_cumprod stored in float32 as ldm does.
struct NoiseSchedule {
  std::vector<float> alphas_cumprod;

  // ldm make_beta_schedule("linear"): betas = linspace(sqrt(b0), sqrt(b1), T)^2 (float64),
  // alphas_cumprod = cumprod(1 - betas), then float32.
  static NoiseSchedule linear(const ScheduleConfig& cfg);
  // From a checkpoint's alphas_cumprod buffer (float32 [T]).
  static NoiseSchedule from_alphas_cumprod(const at::Tensor& ac);
  int timesteps() const { return int(alphas_cumprod.size()); }

  // k-diffusion CompVisDenoiser view: sigma_t = sqrt((1 - a_t) / a_t).
  double sigma(int t) const;
  double sigma_min() const { return sigma(0); }
  double sigma_max() const { return sigma(timesteps() - 1); }
  double sigma_to_t(double sigma) const;  // piecewise-linear in log sigma (not quantised)
  double t_to_sigma(double t) const;
};

// ldm make_ddim_timesteps("uniform"): range(0, T, T // steps) + 1.
std::vector<int64_t> ddim_timesteps(int steps, int T);

// ldm make_ddim_sampling_parameters, float32 like ldm's buffers; index i is the i-th timestep.
struct DdimCoefficients {
  std::vector<int64_t> timesteps;
  std::vector<float> alphas, alphas_prev, sigmas, sqrt_one_minus_alphas;
};
DdimCoefficients ddim_coefficients(const NoiseSchedule& s, int steps, double eta);

// k-diffusion get_sigmas(n) of the discrete model (t = linspace(T-1, 0, n)), then 0 appended.
std::vector<double> discrete_sigmas(const NoiseSchedule& s, int steps);
// k-diffusion get_sigmas_karras(n, sigma_min, sigma_max, rho), then 0 appended.
std::vector<double> karras_sigmas(int steps, double sigma_min, double sigma_max, double rho = 7.0);

// The model seen by a sampler: eps prediction for latents x at (possibly fractional) timestep t.
using EpsFn = std::function<at::Tensor(const at::Tensor& x, double t)>;
// Unit normal noise shaped like the latents (drawn when a sampler needs fresh noise).
using NoiseFn = std::function<at::Tensor()>;
// Called after every step with (steps done, total); may throw to cancel.
using StepFn = std::function<void(int done, int total)>;

struct SamplerSettings {
  SamplerKind kind = SamplerKind::Ddim;
  int steps = 20;
  double eta = 0.0;  // DDIM's eta (0 = deterministic); Euler ancestral always uses eta 1
};

// Runs the sampler from unit-normal latents x_T (k-diffusion samplers scale them by sigma_max).
at::Tensor run_sampler(const SamplerSettings& settings, const NoiseSchedule& schedule,
                       const at::Tensor& x_T, const EpsFn& eps, const NoiseFn& noise,
                       const StepFn& on_step = {});

// ---- ControlNet with classifier-free guidance ----------------------------------------------------

// cldm control_scales: [strength * 0.825^(12 - i)] in guess mode, else [strength] * n
// (n = 13 for SD1.5; smaller models take the first n, as cldm's zip does).
std::vector<double> control_scales(int n, double strength, bool guess_mode);

struct GuidanceSettings {
  double scale = 9.0;     // unconditional_guidance_scale; 1 disables the unconditional pass
  double strength = 1.0;  // control strength
  bool guess_mode = false;  // unconditional branch without control; decaying control scales
};

// cldm ControlLDM.apply_model + the CFG combination of ddim_hacked.p_sample_ddim, with the
// unconditional and conditional halves in ONE batched forward ([uncond; cond], as ldm orders
// them when it batches). cldm itself runs two forwards; the results agree up to float
// reordering.
class ControlledDenoiser {
 public:
  ControlledDenoiser(const UNet& unet, const ControlNet& control);
  // Encodes the control image(s) once: hint [1 or B, 3, H, W] in [0, 1].
  void set_hint(const at::Tensor& hint01);
  const at::Tensor& guided_hint() const { return guided_hint_; }
  // Guided eps for latents x [B, C, h, w] at timestep t; contexts [B or 1, L, D].
  at::Tensor eps(const at::Tensor& x, double t, const at::Tensor& cond, const at::Tensor& uncond,
                 const GuidanceSettings& g) const;

 private:
  const UNet& unet_;
  const ControlNet& control_;
  at::Tensor guided_hint_;
};

// Per-image seeds: image k of a request with seed s draws all its noise (initial latents, then
// ancestral noise) from its own CPU generator seeded with the (k+1)-th output of SplitMix64
// seeded with s, so an image does not depend on the batch it is computed in.
uint64_t image_seed(uint64_t seed, uint64_t k);

}  // namespace difss::sd
