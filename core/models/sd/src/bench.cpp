// The sampler benchmark (see bench.hpp).
#include <difss/sd/bench.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <difss/profile/op_profile.hpp>
#include <difss/sd/loading.hpp>
#include <difss/sd/pipeline.hpp>
#include <difss/sd/sampling.hpp>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace difss::sd {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
// Process CPU seconds (all threads): less sensitive than wall time to other load on the machine.
double cpu_seconds() { return double(std::clock()) / CLOCKS_PER_SEC; }

// Peak and current resident set of this process in GiB (VmHWM / VmRSS of /proc/self/status).
double proc_status_gib(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field, 0) == 0) {
      std::istringstream s(line.substr(std::strlen(field)));
      double kb = 0;
      s >> kb;
      return kb / (1024.0 * 1024.0);
    }
  return -1;
}

// Resets VmHWM to the current RSS (Linux >= 4.0), to measure the peak of one phase.
void reset_peak() { std::ofstream("/proc/self/clear_refs") << "5"; }

struct Args {
  std::vector<std::string> precisions{"fp32", "bf16"};
  int size = 512, steps = 5;
  std::string config = "sd15", write_checkpoint, checkpoint, vocab;
  bool profile = false, pack = true, vae = false, keep_block_weights = false, attention = false;
  std::string attention_kernel;  // --attention-kernel: the setting for every mode ("" = as is)
  std::string conv_algorithm;    // --conv-algorithm: likewise
};

void usage() {
  std::cerr << "usage: difss-sd-tool bench [--precision fp32|bf16|both] [--size N] [--steps N]\n"
               "                     [--config sd15|reduced] [--write-checkpoint FILE]\n"
               "                     [--checkpoint FILE --vocab FILE] [--profile] [--no-pack] [--vae]\n"
               "                     [--keep-block-weights] [--attention]\n"
               "                     [--attention-kernel auto|aten|avx2|avx512]\n"
               "                     [--attention-slice-bytes N] [--conv-algorithm auto|direct|winograd]\n";
}

// Runs run(i) for i = 0..n, printing each run's wall and CPU seconds; run 0 is the warm-up and
// is not counted. With `profile`, the timed runs' per-ATen-op table comes back in `profile`.
struct Timed {
  std::vector<double> wall, cpu;  // timed runs, sorted
  std::string profile;
  double median_wall() const { return wall[wall.size() / 2]; }
  double median_cpu() const { return cpu[cpu.size() / 2]; }
};

Timed time_runs(const std::string& tag, const char* what, int n, bool profile,
                const std::function<void(int)>& run) {
  Timed t;
  std::unique_ptr<OpProfile> ops;
  for (int i = 0; i <= n; ++i) {
    if (i == 1 && profile) ops = std::make_unique<OpProfile>();  // timed runs only
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    run(i);
    const double wall = since(t0), cpu = cpu_seconds() - c0;
    if (i > 0) {
      t.wall.push_back(wall);
      t.cpu.push_back(cpu);
    }
    std::printf("[%s] %s %d: %.3f s wall, %.3f s CPU\n", tag.c_str(), what, i, wall, cpu);
    std::fflush(stdout);
  }
  if (ops) {
    double total = 0;
    for (double w : t.wall) total += w;
    t.profile = "[" + tag + "] per-op profile of the " + std::to_string(t.wall.size()) + " timed " + what +
                "s (outermost ATen ops, inclusive time):\n" + ops->table(total, 24);
  }
  std::sort(t.wall.begin(), t.wall.end());
  std::sort(t.cpu.begin(), t.cpu.end());
  return t;
}

void time_steps(const ModelConfig& cfg, const std::string& precision, const Args& a) {
  const at::ScalarType dt = precision == "bf16" ? at::kBFloat16 : at::kFloat;
  auto t0 = Clock::now();
  ModelConfig parts = cfg;
  parts.has_vae = parts.has_text_encoder = false;  // only the denoiser is timed
  ControlLDM m = random_control_ldm(parts, 1234, dt);
  if (a.pack) std::printf("[%s] %d convolution weights packed for oneDNN\n", precision.c_str(),
                          pack_conv_weights(*m.unet) + pack_conv_weights(*m.control));
  std::printf("[%s] random UNet+ControlNet weights: %.1f s, RSS %.2f GiB\n", precision.c_str(),
              since(t0), proc_status_gib("VmRSS:"));
  std::fflush(stdout);
  c10::InferenceMode guard;
  const int64_t f = 8, h = a.size / f, w = a.size / f;
  ControlledDenoiser den(*m.unet, *m.control);
  at::Tensor hint = at::rand({1, cfg.control.hint_channels, int64_t(a.size), int64_t(a.size)});
  t0 = Clock::now();
  den.set_hint(hint);
  const double hint_s = since(t0);
  at::Tensor cond = at::randn({1, 77, cfg.unet.context_dim}).to(dt);
  at::Tensor uncond = at::randn({1, 77, cfg.unet.context_dim}).to(dt);
  at::Tensor x = at::randn({1, cfg.unet.in_channels, h, w});
  GuidanceSettings g;
  const Timed t = time_runs(precision, "step", a.steps, a.profile, [&](int i) {
    at::Tensor e = den.eps(x, 981.0 - 50.0 * i, cond, uncond, g);
    if (!at::isfinite(e).all().item<bool>()) std::printf("warning: non-finite eps\n");
  });
  std::printf("[%s] %dx%d, CFG batch 2, %d threads: hint encoder %.3f s; UNet+ControlNet step "
              "median %.3f s wall (min %.3f, max %.3f, n=%zu), median %.3f CPU-s; peak RSS %.2f GiB\n%s",
              precision.c_str(), a.size, a.size, at::get_num_threads(), hint_s, t.median_wall(),
              t.wall.front(), t.wall.back(), t.wall.size(), t.median_cpu(), proc_status_gib("VmHWM:"),
              t.profile.c_str());
  std::fflush(stdout);
}

// The VAE decoder alone: one latent [1, 4, size/8, size/8] -> one size x size image, as the
// sampler decodes each generated image. Random weights; --steps timed decodes after one warm-up.
void time_vae(const ModelConfig& cfg, const std::string& precision, const Args& a) {
  const at::ScalarType dt = precision == "bf16" ? at::kBFloat16 : at::kFloat;
  ModelConfig parts = cfg;
  parts.has_unet = parts.has_control = parts.has_text_encoder = parts.has_vae_encoder = false;
  ControlLDM m = random_control_ldm(parts, 1234, dt);
  c10::InferenceMode guard;
  const int64_t f = m.vae_decoder->cfg.downsample_factor();
  at::Tensor z = at::randn({1, m.vae_decoder->cfg.z_channels, a.size / f, a.size / f});
  const Timed t = time_runs(precision, "decode", a.steps, a.profile,
                            [&](int) { vae_decode(*m.vae_decoder, z); });
  std::printf("[%s] VAE decode %dx%d, %d threads: median %.3f s wall (min %.3f, max %.3f, n=%zu), "
              "median %.3f CPU-s; peak RSS %.2f GiB\n%s",
              precision.c_str(), a.size, a.size, at::get_num_threads(), t.median_wall(), t.wall.front(),
              t.wall.back(), t.wall.size(), t.median_cpu(), proc_status_gib("VmHWM:"), t.profile.c_str());
  std::fflush(stdout);
}

// Attention alone at SD1.5's shapes for a size x size image with CFG (batch 2): the UNet's
// self-attention at each latent level, the cross-attention of the largest level, the VAE's
// single-head attention. Every kernel this CPU runs and ATen's path take turns (interleaved, so
// that machine noise hits them alike); --steps rounds after one warm-up round.
void time_attention(const Args& a) {
  struct Shape {
    const char* what;
    int64_t B, N, M, heads, D;
  };
  const int64_t s = a.size / 8;
  const std::vector<Shape> shapes{
      {"self, latent level 1", 2, s * s, s * s, 8, 40},
      {"self, latent level 2", 2, s * s / 4, s * s / 4, 8, 80},
      {"self, latent level 3", 2, s * s / 16, s * s / 16, 8, 160},
      {"cross (77 tokens: ATen in all)", 2, s * s, 77, 8, 40},
      {"VAE mid-block (1 image)", 1, s * s, s * s, 1, 512},
  };
  std::vector<std::string> kernels{"aten"};
  for (const std::string& k : available_attention_kernels()) kernels.push_back(k);
  const std::string setting = attention_kernel();
  c10::InferenceMode guard;
  std::printf("attention at %dx%d (latent %lldx%lld), %d threads, fp32; kernels:", a.size, a.size,
              (long long)s, (long long)s, at::get_num_threads());
  for (const std::string& k : kernels) std::printf(" %s", k.c_str());
  std::printf(" (auto: %s; fused from %lld keys; score blocks of %lld bytes)\n",
              attention_kernel_in_use().c_str(), (long long)fused_attention_min_keys(),
              (long long)attention_slice_bytes());
  for (const Shape& sh : shapes) {
    const int64_t C = sh.heads * sh.D;
    const at::Tensor q = at::randn({sh.B, sh.N, C}), k = at::randn({sh.B, sh.M, C}), v = at::randn({sh.B, sh.M, C});
    const double scale = 1.0 / std::sqrt(double(sh.D));
    const double gflop = 4.0 * double(sh.B * sh.N * sh.M * C) / 1e9;
    std::vector<std::vector<double>> times(kernels.size());
    for (int r = 0; r <= a.steps; ++r)
      for (size_t i = 0; i < kernels.size(); ++i) {
        set_attention_kernel(kernels[i]);
        const auto t0 = Clock::now();
        at::Tensor o = attention(q, k, v, sh.heads, scale);
        if (r > 0) times[i].push_back(since(t0));
      }
    std::printf("  %-28s B=%lld N=%lld M=%lld heads=%lld D=%lld (%.1f GFLOP):", sh.what, (long long)sh.B,
                (long long)sh.N, (long long)sh.M, (long long)sh.heads, (long long)sh.D, gflop);
    for (size_t i = 0; i < kernels.size(); ++i) {
      std::sort(times[i].begin(), times[i].end());
      const double med = times[i][times[i].size() / 2];
      std::printf("  %s %.1f ms (%.0f GFLOP/s)", kernels[i].c_str(), med * 1e3, gflop / med);
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  set_attention_kernel(setting);
}

void end_to_end(const Args& a) {
  const at::ScalarType dt = a.precisions.size() == 1 && a.precisions[0] == "bf16" ? at::kBFloat16 : at::kFloat;
  auto t0 = Clock::now();
  LoadOptions lo;
  lo.dtype = dt;
  lo.pack_conv_weights = a.pack;
  lo.release_block_weights = !a.keep_block_weights;
  auto pipe = ControlNetPipeline::load({a.checkpoint, ""}, lo, a.vocab);
  const double load_s = since(t0);
  std::printf("load %s (%s): %.2f s (weights mapped, paged in on first use), RSS %.2f GiB, "
              "peak %.2f GiB\n",
              a.checkpoint.c_str(), dt == at::kFloat ? "fp32" : "bf16", load_s,
              proc_status_gib("VmRSS:"), proc_status_gib("VmHWM:"));
  std::fflush(stdout);
  GenerateRequest r;
  r.control = at::zeros({a.size, a.size, 3}, at::kByte);
  r.control.slice(0, a.size / 4, a.size / 2).fill_(120);
  r.prompt = "a real shot photo of dog, best quality, extremely detailed";
  r.negative_prompt = "longbody, lowres, bad anatomy";
  r.sampler.steps = a.steps;
  r.count = 1;
  std::vector<double> step_times;
  auto ts = Clock::now();
  t0 = Clock::now();
  double peak_sampling = 0;
  at::Tensor img = pipe->generate(r, [&](int done, int total) {
    step_times.push_back(since(ts));
    peak_sampling = std::max(peak_sampling, proc_status_gib("VmHWM:"));
    std::printf("  step %d/%d: %.2f s, peak RSS so far %.2f GiB\n", done, total, step_times.back(),
                proc_status_gib("VmHWM:"));
    std::fflush(stdout);
    if (done == total) reset_peak();  // what follows is the VAE decode
    ts = Clock::now();
  });
  const double total = since(t0);
  std::sort(step_times.begin(), step_times.end());
  std::printf("end to end (text encoder, %d DDIM steps, VAE decode) %dx%d: %.2f s; step median "
              "%.3f s (the first includes paging the weights in); peak RSS while sampling %.2f GiB, "
              "while decoding %.2f GiB\n",
              a.steps, a.size, a.size, total, step_times[step_times.size() / 2], peak_sampling,
              proc_status_gib("VmHWM:"));
  (void)img;
}

}  // namespace

int run_sampler_bench(int argc, char** argv) {
  Args a;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string k = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
        return argv[++i];
      };
      if (k == "--precision") {
        std::string p = next();
        if (p == "both") a.precisions = {"fp32", "bf16"};
        else if (p == "fp32" || p == "bf16") a.precisions = {p};
        else throw std::invalid_argument("--precision: fp32, bf16 or both");
      } else if (k == "--size") {
        a.size = std::stoi(next());
        if (a.size < 64 || a.size % 64 != 0) throw std::invalid_argument("--size: a multiple of 64");
      } else if (k == "--steps") {
        a.steps = std::max(1, std::stoi(next()));
      } else if (k == "--config") {
        a.config = next();
        if (a.config != "sd15" && a.config != "reduced") throw std::invalid_argument("--config: sd15 or reduced");
      } else if (k == "--write-checkpoint") {
        a.write_checkpoint = next();
      } else if (k == "--checkpoint") {
        a.checkpoint = next();
      } else if (k == "--no-pack") {
        a.pack = false;
      } else if (k == "--keep-block-weights") {
        a.keep_block_weights = true;
      } else if (k == "--vae") {
        a.vae = true;
      } else if (k == "--attention") {
        a.attention = true;
      } else if (k == "--attention-slice-bytes") {
        set_attention_slice_bytes(std::stoll(next()));
      } else if (k == "--attention-kernel") {
        a.attention_kernel = next();
      } else if (k == "--conv-algorithm") {
        a.conv_algorithm = next();
      } else if (k == "--profile") {
        a.profile = true;
      } else if (k == "--vocab") {
        a.vocab = next();
      } else if (k == "--help" || k == "-h") {
        usage();
        return 0;
      } else {
        throw std::invalid_argument("unknown argument " + k);
      }
    }
    if (!a.attention_kernel.empty()) set_attention_kernel(a.attention_kernel);
    std::printf("attention kernel: %s (%s)\n", attention_kernel().c_str(), attention_kernel_in_use().c_str());
    if (!a.conv_algorithm.empty()) conv::set_conv_algorithm(a.conv_algorithm);
    std::printf("convolution algorithm: %s\n", conv::conv_setting_summary().c_str());
    if (a.attention) {
      time_attention(a);
      return 0;
    }
    const ModelConfig cfg = a.config == "sd15" ? ModelConfig::sd15() : reduced_config();
    if (!a.write_checkpoint.empty()) {
      auto t0 = Clock::now();
      write_random_checkpoint(a.write_checkpoint, cfg, 42);
      std::printf("wrote %s in %.1f s (peak RSS %.2f GiB)\n", a.write_checkpoint.c_str(), since(t0),
                  proc_status_gib("VmHWM:"));
      return 0;
    }
    if (!a.checkpoint.empty()) {
      if (a.vocab.empty()) throw std::invalid_argument("--checkpoint needs --vocab");
      end_to_end(a);
      return 0;
    }
    for (const std::string& p : a.precisions) a.vae ? time_vae(cfg, p, a) : time_steps(cfg, p, a);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "difss-sd-tool: " << e.what() << "\n";
    usage();
    return 1;
  }
}

}  // namespace difss::sd
