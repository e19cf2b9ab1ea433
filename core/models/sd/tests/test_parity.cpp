// Reduced-width parity with the official implementations (tests/data/README.md): random weights
// and the reference outputs of lllyasviel/ControlNet's ldm/cldm modules, k-diffusion's samplers
// and Hugging Face's CLIPTextTransformer, all in float32 on the CPU.
#include "catch_torch.hpp"
#include "attention_settings.hpp"

#include <c10/core/InferenceMode.h>

#include <difss/sd/loading.hpp>
#include <difss/sd/models.hpp>
#include <difss/sd/sampling.hpp>
#include <difss/weights/load.hpp>

#include <cmath>
#include <string>

using namespace difss::sd;

namespace {

const std::string kFile = std::string(DIFSS_SD_TEST_DATA) + "/parity_reduced.safetensors";

struct Fixture {
  LoadedModel model;
  difss::weights::StateDict refs;
};

Fixture& fixture() {
  static Fixture f = [] {
    LoadOptions lo;
    lo.vae_encoder = true;
    Fixture x{load_control_ldm({kFile, ""}, lo), {}};
    difss::weights::LoadOptions wo;
    wo.filter = difss::weights::keep_prefixes({"ref."});
    x.refs = difss::weights::load(kFile, wo);
    return x;
  }();
  return f;
}

at::Tensor refv(const std::string& name) { return fixture().refs.at("ref." + name).to(at::kFloat); }

// max |a - b| <= atol + rtol * max |b|, reported with the measured numbers.
void check_close(const at::Tensor& got, const at::Tensor& want, double atol, double rtol,
                 const std::string& what) {
  REQUIRE(got.sizes() == want.sizes());
  const double diff = (got.to(at::kFloat) - want).abs().max().item<double>();
  const double scale = want.abs().max().item<double>();
  INFO(what << ": max abs diff " << diff << ", max |ref| " << scale << ", allowed "
            << atol + rtol * scale);
  CHECK(std::isfinite(diff));
  CHECK(diff <= atol + rtol * scale);
}

// The ControlNet's residuals against the references; returns them. `how` names the variant.
std::vector<at::Tensor> check_control(const ControlLDM& m, const std::string& how) {
  const at::Tensor x = refv("unet.x"), t = refv("unet.t"), ctx = refv("unet.ctx");
  const at::Tensor gh = controlnet_hint(*m.control, refv("unet.hint"));
  std::vector<at::Tensor> ctrl = controlnet_forward(*m.control, x, gh, t, ctx);
  REQUIRE(ctrl.size() == 5);
  for (size_t i = 0; i < ctrl.size(); ++i)
    check_close(ctrl[i], refv("control.out." + std::to_string(i)), 2e-5, 1e-5,
                "control residual " + std::to_string(i) + how);
  return ctrl;
}

// ControlNet residuals, UNet eps (no control) and the VAE decode against the references, at the
// references' tolerance; `how` names the variant in the messages.
void check_control_unet_vae(const ControlLDM& m, const std::string& how) {
  check_control(m, ", " + how);
  const at::Tensor x = refv("unet.x"), t = refv("unet.t"), ctx = refv("unet.ctx");
  check_close(unet_forward(*m.unet, x, t, ctx, nullptr), refv("unet.eps_plain"), 2e-5, 1e-5,
              "UNet eps without control, " + how);
  check_close(vae_decode(*m.vae_decoder, refv("vae.z")), refv("vae.image"), 2e-5, 1e-5,
              "decode_first_stage, " + how);
}

}  // namespace

TEST_CASE("parity: the checkpoint loads with the metadata config", "[sd][parity]") {
  const LoadedModel& m = fixture().model;
  CHECK(m.model.unet);
  CHECK(m.model.control);
  CHECK(m.model.clip);
  CHECK(m.model.vae_decoder);
  CHECK(m.model.vae_encoder);
  CHECK(m.report.config.unet.model_channels == 32);
  CHECK(m.report.config.clip.vocab_size == 1000);
  for (const auto& k : m.report.unused_keys) CHECK(k.rfind("ref.", 0) == 0);  // only references
}

TEST_CASE("parity: CLIP text encoder vs HF CLIPTextTransformer", "[sd][parity]") {
  c10::InferenceMode guard;
  at::Tensor out = clip_text_forward(*fixture().model.model.clip, refv("clip.ids").to(at::kLong));
  check_close(out, refv("clip.out"), 2e-5, 1e-5, "clip last hidden state");
}

TEST_CASE("parity: ControlNet and UNet forward vs cldm", "[sd][parity][slow]") {
  c10::InferenceMode guard;
  const ControlLDM& m = fixture().model.model;
  const at::Tensor x = refv("unet.x"), t = refv("unet.t"), ctx = refv("unet.ctx");
  const std::vector<at::Tensor> ctrl = check_control(m, "");
  std::vector<at::Tensor> scaled;
  for (const auto& c : ctrl) scaled.push_back(c * 0.8);
  check_close(unet_forward(*m.unet, x, t, ctx, &scaled), refv("unet.eps_control"), 2e-5, 1e-5,
              "UNet eps with control (strength 0.8)");
  check_close(unet_forward(*m.unet, x, t, ctx, nullptr), refv("unet.eps_plain"), 2e-5, 1e-5,
              "UNet eps without control");
}

TEST_CASE("parity: attention in one-row score blocks matches the references too", "[sd][parity][slow]") {
  // The fixture's token counts fit one block at the default budget; 256 bytes forces one query row
  // per block (and masked CLIP rows), exercising the blocked path against the same references.
  test::RestoreAttentionSettings restore;
  set_attention_slice_bytes(256);
  REQUIRE(attention_slice_bytes() == 256);
  c10::InferenceMode guard;
  const ControlLDM& m = fixture().model.model;
  const at::Tensor x = refv("unet.x"), t = refv("unet.t"), ctx = refv("unet.ctx");
  check_close(unet_forward(*m.unet, x, t, ctx, nullptr), refv("unet.eps_plain"), 2e-5, 1e-5,
              "UNet eps without control, one query row per block");
  check_close(clip_text_forward(*m.clip, refv("clip.ids").to(at::kLong)), refv("clip.out"), 2e-5, 1e-5,
              "clip last hidden state (causal mask), one query row per block");
  check_close(vae_decode(*m.vae_decoder, refv("vae.z")), refv("vae.image"), 2e-5, 1e-5,
              "decode_first_stage (single-head attention), one query row per block");
}

TEST_CASE("parity: attention through each fused kernel matches the references too", "[sd][parity][slow]") {
  // The fixture's token counts are below the fused kernels' default threshold; a threshold of one
  // key sends every unmasked attention (UNet, ControlNet, VAE) through each kernel this CPU runs.
  test::RestoreAttentionSettings restore;
  set_fused_attention_min_keys(1);
  c10::InferenceMode guard;
  for (const std::string& kernel : available_attention_kernels()) {
    set_attention_kernel(kernel);
    check_control_unet_vae(fixture().model.model, kernel);
  }
}

TEST_CASE("parity: 3x3 convolutions through Winograd match the references too", "[sd][parity][slow]") {
  // "winograd" sends every 3x3 stride-1 convolution with channel counts divisible by 16 (UNet,
  // ControlNet, VAE; the fixture's are small) through oneDNN's Winograd kernels, where the CPU has them.
  test::RestoreConvSettings restore;
  difss::conv::set_conv_algorithm("winograd");
  c10::InferenceMode guard;
  const ControlLDM& m = fixture().model.model;
  const Conv& probe = m.vae_decoder->mid_block_1.conv1;
  if (!difss::conv::winograd_available()) {
    WARN("Winograd not available, the references are checked on the direct path: "
         << difss::conv::winograd_unavailable_reason());
  }
  check_control_unet_vae(m, "Winograd");
  check_close(vae_encode(*m.vae_encoder, refv("vae.input")), refv("vae.latent"), 2e-5, 1e-5,
              "encoder mean * scale_factor, Winograd");
  // It did run (or, without it, did not), and the shared fixture gets its memory back.
  CHECK((probe.winograd.weight_bytes() > 0) == difss::conv::winograd_available());
  probe.winograd.release();
}

TEST_CASE("parity: convolution weights packed for oneDNN give the same outputs", "[sd][parity][slow]") {
  // Bit for bit where ATen would also have run oneDNN (3x3 on batches > 1, as in CFG); the
  // fixture's small batch-1 inputs take ATen's own kernels there, so: the references' tolerance.
  c10::InferenceMode guard;
  const ControlLDM& m = fixture().model.model;
  UNet unet = *m.unet;  // copies share the weights; packing adds Conv::packed to the copies only
  ControlNet control = *m.control;
  REQUIRE(pack_conv_weights(unet) > 0);
  REQUIRE(pack_conv_weights(control) > 0);
  const at::Tensor x = refv("unet.x"), t = refv("unet.t"), ctx = refv("unet.ctx");
  const at::Tensor gh = controlnet_hint(*m.control, refv("unet.hint"));
  check_close(controlnet_hint(control, refv("unet.hint")), gh, 2e-5, 1e-5, "hint encoder, packed");
  std::vector<at::Tensor> packed = controlnet_forward(control, x, gh, t, ctx);
  REQUIRE(packed.size() == 5);
  for (size_t i = 0; i < packed.size(); ++i)
    check_close(packed[i], refv("control.out." + std::to_string(i)), 2e-5, 1e-5,
                "control residual " + std::to_string(i) + ", packed");
  // Batch 2 (the CFG batch), packed vs ATen's own choice of kernels: rounding differences only.
  const at::Tensor x2 = at::cat({x, x}), t2 = at::cat({t, t}), ctx2 = at::cat({ctx, ctx});
  check_close(unet_forward(unet, x2, t2, ctx2, nullptr), unet_forward(*m.unet, x2, t2, ctx2, nullptr),
              1e-6, 1e-6, "UNet eps at batch 2, packed vs unpacked");
  check_close(unet_forward(unet, x, t, ctx, nullptr), refv("unet.eps_plain"), 2e-5, 1e-5,
              "UNet eps without control, packed convolutions");
}

TEST_CASE("parity: VAE decoder and encoder vs ldm AutoencoderKL", "[sd][parity][slow]") {
  c10::InferenceMode guard;
  const ControlLDM& m = fixture().model.model;
  check_close(vae_decode(*m.vae_decoder, refv("vae.z")), refv("vae.image"), 2e-5, 1e-5,
              "decode_first_stage");
  check_close(vae_encode(*m.vae_encoder, refv("vae.input")), refv("vae.latent"), 2e-5, 1e-5,
              "encoder mean * scale_factor");
}

TEST_CASE("parity: schedule and k-diffusion sigmas", "[sd][parity]") {
  NoiseSchedule s = NoiseSchedule::linear(ScheduleConfig{});
  at::Tensor ac = refv("schedule.alphas_cumprod");
  REQUIRE(ac.numel() == 1000);
  double worst = 0;
  for (int i = 0; i < 1000; ++i)
    worst = std::max(worst, std::abs(double(s.alphas_cumprod[size_t(i)]) - ac[i].item<double>()));
  CHECK(worst <= 1e-7);
  auto cmp = [](const std::vector<double>& got, const at::Tensor& want, const char* what) {
    REQUIRE(int64_t(got.size()) == want.numel());
    for (int64_t i = 0; i < want.numel(); ++i) {
      INFO(what << "[" << i << "]");
      CHECK(got[size_t(i)] == Approx(want[i].item<double>()).epsilon(2e-6).margin(1e-6));
    }
  };
  cmp(discrete_sigmas(s, 20), refv("kdiff.sigmas_discrete_20"), "discrete sigmas");
  cmp(karras_sigmas(20, s.sigma_min(), s.sigma_max()), refv("kdiff.sigmas_karras_20"), "karras sigmas");
  const double sig[] = {0.03, 0.5, 1.0, 3.3, 14.0};
  at::Tensor t = refv("kdiff.t_of_sigma");
  for (int i = 0; i < 5; ++i) CHECK(s.sigma_to_t(sig[i]) == Approx(t[i].item<double>()).epsilon(1e-5).margin(2e-3));
}

namespace {

// Runs one of the recorded sampling loops through the library's scheduler and denoiser.
at::Tensor run_recorded(const std::string& tag, SamplerKind kind, int steps, double eta,
                        double scale, double strength, bool guess) {
  c10::InferenceMode guard;
  const ControlLDM& m = fixture().model.model;
  ControlledDenoiser den(*m.unet, *m.control);
  den.set_hint(refv(tag + ".hint"));
  const at::Tensor cond = refv(tag + ".cond"), uncond = refv(tag + ".uncond");
  GuidanceSettings g;
  g.scale = scale;
  g.strength = strength;
  g.guess_mode = guess;
  int drawn = 0;
  NoiseFn noise = [&]() { return refv(tag + ".noise." + std::to_string(drawn++)); };
  EpsFn eps = [&](const at::Tensor& x, double t) { return den.eps(x, t, cond, uncond, g); };
  int calls = 0;
  SamplerSettings st;
  st.kind = kind;
  st.steps = steps;
  st.eta = eta;
  at::Tensor out = run_sampler(st, NoiseSchedule::from_alphas_cumprod(refv("schedule.alphas_cumprod")),
                               refv(tag + ".x_T"), eps, noise, [&](int, int) { ++calls; });
  CHECK(calls == steps);
  return out;
}

}  // namespace

TEST_CASE("parity: whole DDIM loop with CFG vs cldm ddim_hacked", "[sd][parity][slow]") {
  check_close(run_recorded("ddim", SamplerKind::Ddim, 4, 0.0, 9.0, 1.0, false), refv("ddim.out"),
              1e-4, 2e-5, "DDIM, 4 steps, eta 0, scale 9, strength 1");
  check_close(run_recorded("ddim_guess", SamplerKind::Ddim, 5, 0.5, 7.5, 0.7, true),
              refv("ddim_guess.out"), 1e-4, 2e-5, "DDIM, 5 steps, eta 0.5, scale 7.5, guess mode 0.7");
}

TEST_CASE("parity: DPM-Solver++ 2M and Euler ancestral vs k-diffusion", "[sd][parity][slow]") {
  check_close(run_recorded("dpmpp2m", SamplerKind::Dpmpp2M, 4, 0, 9.0, 1.0, false),
              refv("dpmpp2m.out"), 1e-4, 2e-5, "dpmpp-2m, 4 steps");
  check_close(run_recorded("dpmpp2m_karras", SamplerKind::Dpmpp2MKarras, 4, 0, 9.0, 1.0, false),
              refv("dpmpp2m_karras.out"), 1e-4, 2e-5, "dpmpp-2m-karras, 4 steps");
  check_close(run_recorded("euler_a", SamplerKind::EulerAncestral, 4, 0, 9.0, 1.0, false),
              refv("euler_a.out"), 1e-4, 2e-5, "euler-a, 4 steps");
}

TEST_CASE("parity: bf16 compute stays close to the float32 reference", "[sd][parity][bf16][slow]") {
  c10::InferenceMode guard;
  LoadOptions lo;
  lo.dtype = at::kBFloat16;
  lo.vae_encoder = false;
  LoadedModel m = load_control_ldm({kFile, ""}, lo);
  const at::Tensor x = refv("unet.x"), t = refv("unet.t"), ctx = refv("unet.ctx");
  const at::Tensor gh = controlnet_hint(*m.model.control, refv("unet.hint"));
  std::vector<at::Tensor> ctrl = controlnet_forward(*m.model.control, x, gh, t, ctx);
  for (auto& c : ctrl) c = c * 0.8;
  at::Tensor eps = unet_forward(*m.model.unet, x, t, ctx, &ctrl);
  CHECK(eps.scalar_type() == at::kFloat);
  // bfloat16 keeps 8 bits of mantissa: relative L2 error of a few percent after ~30 layers
  // of random weights.
  // (measured: UNet 5.2 %, CLIP 0.7 %, VAE 4.0 %).
  auto rel_l2 = [](const at::Tensor& a, const at::Tensor& b, double tol, const char* what) {
    const double e = (a.to(at::kFloat) - b).norm().item<double>() / b.norm().item<double>();
    INFO(what << ": relative L2 error " << e);
    CHECK(e < tol);
  };
  rel_l2(eps, refv("unet.eps_control"), 0.08, "UNet eps in bf16");
  rel_l2(clip_text_forward(*m.model.clip, refv("clip.ids").to(at::kLong)), refv("clip.out"), 0.02,
         "CLIP in bf16");
  rel_l2(vae_decode(*m.model.vae_decoder, refv("vae.z")), refv("vae.image"), 0.06, "VAE decode in bf16");
}
