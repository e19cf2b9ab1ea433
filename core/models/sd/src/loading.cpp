// ParamSource, checkpoint loading (mapped by difss_weights, bound by its Binder), config
// inference and the random checkpoint writer.
#include <difss/sd/param_source.hpp>
#include <difss/sd/loading.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <difss/weights/bind.hpp>
#include <difss/weights/load.hpp>
#include <difss/weights/save.hpp>
#include <difss/weights/state_dict.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace difss::sd {

// ================================ ParamSource =====================================================

ParamSource ParamSource::shapes() { return ParamSource(); }

ParamSource ParamSource::loading(weights::Binder& binder, at::ScalarType dtype) {
  ParamSource b;
  b.mode_ = Mode::Load;
  b.binder_ = &binder;
  b.dtype_ = dtype;
  return b;
}

ParamSource ParamSource::random(uint64_t seed, at::ScalarType dtype, c10::Device device) {
  ParamSource b;
  b.mode_ = Mode::Random;
  b.dtype_ = dtype;
  b.device_ = device;
  b.generator_ = std::make_shared<at::Generator>(at::make_generator<at::CPUGeneratorImpl>(seed));
  return b;
}

namespace {
bool keeps_fp32(Init init) { return init == Init::NormWeight || init == Init::NormBias; }
}  // namespace

at::Tensor ParamSource::param(const std::string& name, std::vector<int64_t> shape, Init init) {
  specs_.push_back({name, shape, false});
  const at::ScalarType target = keeps_fp32(init) ? at::kFloat : dtype_;
  switch (mode_) {
    case Mode::Shapes: return {};
    case Mode::Random: {
      auto& gen = *std::static_pointer_cast<at::Generator>(generator_);
      at::Tensor t = at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat));
      int64_t fan_in = 1;
      for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
      switch (init) {
        case Init::Weight: t.mul_(1.0 / std::sqrt(double(std::max<int64_t>(fan_in, 1)))); break;
        case Init::NormWeight: t.mul_(0.02).add_(1.0); break;
        default: t.mul_(0.02); break;
      }
      t = t.to(at::TensorOptions().dtype(target).device(device_));
      produced_.emplace_back(name, t);
      return t;
    }
    case Mode::Load: {
      weights::Slot slot{name, nullptr, std::move(shape)};
      slot.dtype = target;  // also refuses a stored tensor that is not floating-point
      at::Tensor t = binder_->take(slot);
      if (t.defined()) produced_.emplace_back(name, t);
      return t;
    }
  }
  return {};
}

at::Tensor ParamSource::buffer(const std::string& name, std::vector<int64_t> shape) {
  specs_.push_back({name, shape, true});
  if (mode_ != Mode::Load) return {};
  weights::Slot slot{name, nullptr, std::move(shape)};
  slot.optional = true;
  slot.keep_stored = true;
  at::Tensor t = binder_->take(slot);
  if (t.defined()) produced_.emplace_back(name, t);
  return t;
}

// ================================ checkpoint keys =================================================

namespace {

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

// Keys nobody needs and nobody should be warned about.
bool tolerated(const std::string& k) {
  return starts_with(k, "model_ema.") || k == "model_ema" ||
         k.find("position_ids") != std::string::npos;
}

// Canonical name of a key of an SD checkpoint (older CLIP layout without "text_model.").
std::string canonical_base_key(const std::string& k) {
  static const std::string old = "cond_stage_model.transformer.";
  if (starts_with(k, old.c_str()) && !starts_with(k, prefix::clip))
    return std::string(prefix::clip) + k.substr(old.size());
  return k;
}

// The files mapped read-only (no commit charge for 5.7 GB, and the pages of a converted or
// inactive stage can be given back: release_mapped_pages), their keys under canonical
// (ControlLDM) names. Lightning .ckpt files carry callbacks / hparams objects: read as inert.
weights::StateDict load_mapped(const std::string& path) {
  weights::LoadOptions lo;
  lo.memory = weights::MemoryMode::MapReadOnly;
  lo.allow_inert_globals = true;
  return weights::load(path, lo);
}

}  // namespace

// ================================ config inference ================================================

namespace {

struct ShapeMap {
  std::unordered_map<std::string, std::vector<int64_t>> m;
  bool has(const std::string& k) const { return m.count(k) != 0; }
  const std::vector<int64_t>& at(const std::string& k) const {
    auto it = m.find(k);
    if (it == m.end()) throw std::runtime_error("checkpoint: expected key '" + k + "' is absent");
    return it->second;
  }
  // Dimension i of a key's shape, which must be positive (hostile files: no division by zero).
  int dim(const std::string& k, size_t i) const {
    const auto& s = at(k);
    if (i >= s.size() || s[i] <= 0 || s[i] > (int64_t(1) << 24))
      throw std::runtime_error("checkpoint: tensor '" + k + "' has an unusable shape");
    return int(s[i]);
  }
};

// Encoder half (input blocks) of a UNet / ControlNet with prefix p.
void infer_encoder(const ShapeMap& s, const std::string& p, UNetConfig& c) {
  c.model_channels = s.dim(p + "input_blocks.0.0.weight", 0);
  c.in_channels = s.dim(p + "input_blocks.0.0.weight", 1);
  c.channel_mult.clear();
  c.num_res_blocks.clear();
  c.attention_resolutions.clear();
  int ds = 1, count = 0, mult = -1;
  bool attn = false;
  auto close_level = [&]() {
    c.channel_mult.push_back(mult);
    c.num_res_blocks.push_back(count);
    if (attn) c.attention_resolutions.push_back(ds);
  };
  for (int i = 1;; ++i) {
    const std::string q = p + "input_blocks." + std::to_string(i);
    if (s.has(q + ".0.op.weight")) {
      close_level();
      ds *= 2;
      count = 0;
      attn = false;
      continue;
    }
    if (!s.has(q + ".0.in_layers.2.weight")) break;
    mult = s.dim(q + ".0.in_layers.2.weight", 0) / c.model_channels;
    ++count;
    attn = attn || s.has(q + ".1.norm.weight");
  }
  close_level();
  std::sort(c.attention_resolutions.rbegin(), c.attention_resolutions.rend());  // YAML order
  int depth = 0;
  while (s.has(p + "middle_block.1.transformer_blocks." + std::to_string(depth) + ".norm1.weight"))
    ++depth;
  c.transformer_depth = depth;
  c.use_linear_in_transformer = s.at(p + "middle_block.1.proj_in.weight").size() == 2;
  c.context_dim = s.dim(p + "middle_block.1.transformer_blocks.0.attn2.to_k.weight", 1);
}

}  // namespace

ModelConfig infer_model_config(const ShapeTable& shapes,
                               const std::map<std::string, std::string>& metadata) {
  auto meta = metadata.find("difss.sd.config");
  ShapeMap s;
  for (const auto& kv : shapes) s.m[kv.first] = kv.second;
  ModelConfig c = meta != metadata.end() ? ModelConfig::from_json(meta->second) : ModelConfig::sd15();
  const std::string U = prefix::unet, C = prefix::control, V = prefix::vae, T = prefix::clip;
  c.has_unet = s.has(U + "input_blocks.0.0.weight");
  c.has_control = s.has(C + "input_blocks.0.0.weight");
  c.has_vae = s.has(V + "decoder.conv_in.weight");
  c.has_vae_encoder = s.has(V + "encoder.conv_in.weight");
  c.has_text_encoder = s.has(T + "embeddings.token_embedding.weight");
  if (s.has(std::string(prefix::class_embed) + "embedding.weight"))
    c.class_embed_classes = s.dim(std::string(prefix::class_embed) + "embedding.weight", 0);
  if (meta != metadata.end()) return c;  // the writer's own description is authoritative

  if (c.has_unet) {
    infer_encoder(s, U, c.unet);
    c.unet.out_channels = s.dim(U + "out.2.weight", 0);
  }
  if (c.has_control) {
    infer_encoder(s, C, c.control);
    std::vector<int> chans;
    for (int k = 0; s.has(C + "input_hint_block." + std::to_string(2 * k) + ".weight"); ++k) {
      const std::string w = C + "input_hint_block." + std::to_string(2 * k) + ".weight";
      if (k == 0) c.control.hint_channels = s.dim(w, 1);
      chans.push_back(s.dim(w, 0));
    }
    if (chans.size() != 8)
      throw std::runtime_error(
          "checkpoint: the ControlNet hint encoder has " + std::to_string(chans.size()) +
          " convolutions; without difss.sd.config metadata only cldm's 8 are understood");
    chans.pop_back();
    c.control.hint_block_channels = chans;
    c.control.hint_block_strides = {1, 1, 2, 1, 2, 1, 2, 1};
    if (!c.has_unet) c.unet = c.control;
  }
  if (c.has_text_encoder) {
    c.clip.vocab_size = s.dim(T + "embeddings.token_embedding.weight", 0);
    c.clip.width = s.dim(T + "embeddings.token_embedding.weight", 1);
    c.clip.max_positions = s.dim(T + "embeddings.position_embedding.weight", 0);
    int layers = 0;
    while (s.has(T + "encoder.layers." + std::to_string(layers) + ".mlp.fc1.weight")) ++layers;
    c.clip.layers = layers;
    c.clip.mlp_width = layers ? s.dim(T + "encoder.layers.0.mlp.fc1.weight", 0) : 4 * c.clip.width;
    c.clip.heads = std::max(1, c.clip.width / 64);  // CLIP text towers use 64-channel heads
  }
  if (c.has_vae) {
    int n = 0;
    while (s.has(V + "decoder.up." + std::to_string(n) + ".block.0.conv1.weight")) ++n;
    const int ch = c.has_vae_encoder ? s.dim(V + "encoder.conv_in.weight", 0)
                                     : s.dim(V + "decoder.conv_out.weight", 1);
    c.vae.ch = ch;
    c.vae.ch_mult.clear();
    c.vae.attn_resolutions.clear();
    for (int i = 0; i < n; ++i) {
      const std::string q = V + "decoder.up." + std::to_string(i);
      c.vae.ch_mult.push_back(s.dim(q + ".block.0.conv1.weight", 0) / ch);
      if (s.has(q + ".attn.0.norm.weight")) c.vae.attn_resolutions.push_back(c.vae.resolution >> i);
    }
    int blocks = 0;
    while (s.has(V + "decoder.up.0.block." + std::to_string(blocks) + ".conv1.weight")) ++blocks;
    c.vae.num_res_blocks = blocks - 1;
    c.vae.z_channels = s.dim(V + "decoder.conv_in.weight", 1);
    c.vae.embed_dim = s.dim(V + "post_quant_conv.weight", 1);
    c.vae.out_ch = s.dim(V + "decoder.conv_out.weight", 0);
    if (c.has_vae_encoder) c.vae.in_channels = s.dim(V + "encoder.conv_in.weight", 1);
  }
  if (s.has("alphas_cumprod")) c.schedule.timesteps = s.dim("alphas_cumprod", 0);
  return c;
}

std::vector<ParamSpec> parameter_table(const ModelConfig& cfg) {
  ParamSource b = ParamSource::shapes();
  ControlLDM::build(cfg, b);
  return b.specs();
}

ControlLDM random_control_ldm(const ModelConfig& cfg, uint64_t seed, at::ScalarType dtype,
                              c10::Device device) {
  ParamSource b = ParamSource::random(seed, dtype, device);
  return ControlLDM::build(cfg, b);
}

ModelConfig reduced_config() {
  ModelConfig c;
  UNetConfig& u = c.unet;
  u.model_channels = 32;
  u.channel_mult = {1, 2};
  u.num_res_blocks = {1, 1};
  u.attention_resolutions = {2};
  u.num_heads = 2;
  u.context_dim = 32;
  u.hint_block_channels = {8, 8, 16, 16, 32, 32, 64};
  c.control = u;
  c.clip.width = 32;
  c.clip.layers = 2;
  c.clip.heads = 2;
  c.clip.mlp_width = 128;
  c.vae.ch = 32;
  c.vae.ch_mult = {1, 2, 2, 2};
  c.vae.num_res_blocks = 1;
  c.has_vae_encoder = false;
  return c;
}

// ================================ loading =========================================================

LoadedModel load_control_ldm(const CheckpointSpec& spec, const LoadOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  if (spec.checkpoint.empty()) throw std::runtime_error("no checkpoint given");
  if (options.dtype != at::kFloat && options.dtype != at::kBFloat16)
    throw std::invalid_argument("compute precision must be float32 or bfloat16");
  if (options.device.is_cuda() && !at::hasCUDA())
    throw std::runtime_error("device cuda requested but this LibTorch has no CUDA device available");

  const weights::StateDict main_file = load_mapped(spec.checkpoint);
  weights::StateDict base_file;
  if (!spec.base_checkpoint.empty()) base_file = load_mapped(spec.base_checkpoint);

  LoadReport report;
  // One state dict under canonical names, the tensors still views of the mapped files.
  weights::StateDict table(spec.checkpoint + (spec.base_checkpoint.empty() ? "" : " + " + spec.base_checkpoint));
  table.metadata = main_file.metadata;
  const bool bare_control = main_file.contains("input_hint_block.0.weight");
  if (bare_control) report.notes.push_back(spec.checkpoint + ": control-only keys without 'control_model.'");
  for (const auto& item : main_file) {
    if (tolerated(item.name)) continue;
    table.insert(bare_control ? prefix::control + item.name : canonical_base_key(item.name), item.tensor);
  }
  for (const auto& item : base_file) {
    if (tolerated(item.name)) continue;
    std::string ck = canonical_base_key(item.name);
    if (starts_with(ck, prefix::control)) continue;  // control comes from `checkpoint`
    table.insert(std::move(ck), item.tensor);          // the base wins for everything else
  }
  ShapeTable shapes;
  for (const auto& item : table) shapes.emplace_back(item.name, item.tensor.sizes().vec());
  ModelConfig cfg = infer_model_config(shapes, table.metadata);
  if (!cfg.has_control)
    throw std::runtime_error(spec.checkpoint + ": no ControlNet weights (control_model.*) found");
  if (!cfg.has_unet || !cfg.has_vae)
    throw std::runtime_error(
        spec.checkpoint + ": no Stable Diffusion UNet/VAE weights found" +
        (!spec.base_checkpoint.empty() ? " in it nor in " + spec.base_checkpoint
                                       : "; a control-only file needs base_checkpoint (e.g. v1-5-pruned.ckpt)"));
  if (!cfg.has_text_encoder && options.text_encoder && cfg.class_embed_classes == 0)
    throw std::runtime_error(spec.checkpoint + ": no CLIP text encoder weights (cond_stage_model.*) found");
  cfg.has_vae_encoder = cfg.has_vae_encoder && options.vae_encoder;
  cfg.has_text_encoder = cfg.has_text_encoder && options.text_encoder;

  weights::BindOptions bo;
  bo.allow_unused = true;  // reported, not an error
  bo.device = options.device;
  bo.release_converted = true;  // converted weights give their mapped pages back at once
  // Parts present in the file that were not requested are not "unused".
  bo.keys.ignore_prefixes = {"first_stage_model.encoder.", "first_stage_model.quant_conv"};
  if (!options.text_encoder) bo.keys.ignore_prefixes.push_back("cond_stage_model.");
  weights::Binder binder(table, bo);
  ParamSource source = ParamSource::loading(binder, options.dtype);
  LoadedModel out{ControlLDM::build(cfg, source), {}, {}, {}, {}};
  const weights::BindReport bound = binder.finish();
  for (const auto& kv : source.produced()) {
    if (starts_with(kv.first, prefix::unet) || starts_with(kv.first, prefix::control))
      out.denoiser_weights.push_back(kv.second);
    else if (starts_with(kv.first, prefix::clip))
      out.text_weights.push_back(kv.second);
    else if (starts_with(kv.first, prefix::vae))
      out.vae_weights.push_back(kv.second);
  }
  report.unused_keys = bound.unused;
  std::sort(report.unused_keys.begin(), report.unused_keys.end());
  report.config = cfg;
  report.notes.push_back(std::string("compute dtype ") + c10::toString(options.dtype) + " on " +
                         options.device.str());
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.report = std::move(report);
  return out;
}

// ================================ writing =========================================================

namespace {

// ldm DDPM.register_schedule for the "linear" schedule, stored as float32 like ldm.
std::vector<std::pair<std::string, at::Tensor>> schedule_buffers(const ScheduleConfig& c) {
  const int T = c.timesteps;
  const size_t n = static_cast<size_t>(T);
  std::vector<double> betas(n), ac(n);
  const double a = std::sqrt(c.linear_start), b = std::sqrt(c.linear_end);
  double prod = 1;
  for (int i = 0; i < T; ++i) {
    double x = T == 1 ? a : a + (b - a) * double(i) / double(T - 1);
    betas[size_t(i)] = x * x;
    prod *= 1.0 - betas[size_t(i)];
    ac[size_t(i)] = prod;
  }
  auto vec = [&](auto f) {
    at::Tensor t = at::empty({T}, at::kFloat);
    float* p = t.data_ptr<float>();
    for (int i = 0; i < T; ++i) p[i] = float(f(size_t(i)));
    return t;
  };
  auto prev = [&](size_t i) { return i == 0 ? 1.0 : ac[i - 1]; };
  auto post_var = [&](size_t i) { return betas[i] * (1.0 - prev(i)) / (1.0 - ac[i]); };
  return {
      {"betas", vec([&](size_t i) { return betas[i]; })},
      {"alphas_cumprod", vec([&](size_t i) { return ac[i]; })},
      {"alphas_cumprod_prev", vec(prev)},
      {"sqrt_alphas_cumprod", vec([&](size_t i) { return std::sqrt(ac[i]); })},
      {"sqrt_one_minus_alphas_cumprod", vec([&](size_t i) { return std::sqrt(1.0 - ac[i]); })},
      {"log_one_minus_alphas_cumprod", vec([&](size_t i) { return std::log(1.0 - ac[i]); })},
      {"sqrt_recip_alphas_cumprod", vec([&](size_t i) { return std::sqrt(1.0 / ac[i]); })},
      {"sqrt_recipm1_alphas_cumprod", vec([&](size_t i) { return std::sqrt(1.0 / ac[i] - 1); })},
      {"posterior_variance", vec(post_var)},
      {"posterior_log_variance_clipped",
       vec([&](size_t i) { return std::log(std::max(post_var(i), 1e-20)); })},
      {"posterior_mean_coef1",
       vec([&](size_t i) { return betas[i] * std::sqrt(prev(i)) / (1.0 - ac[i]); })},
      {"posterior_mean_coef2",
       vec([&](size_t i) { return (1.0 - prev(i)) * std::sqrt(1.0 - betas[i]) / (1.0 - ac[i]); })},
      {"logvar", vec([](size_t) { return 0.0; })},
  };
}

}  // namespace

void write_random_checkpoint(const std::string& path, const ModelConfig& cfg, uint64_t seed,
                             at::ScalarType storage) {
  ParamSource b = ParamSource::random(seed, at::kFloat, c10::Device(c10::kCPU));
  ControlLDM::build(cfg, b);
  weights::StateDict sd(path);
  for (const auto& kv : b.produced()) sd.insert(kv.first, kv.second.to(storage));
  for (auto& kv : schedule_buffers(cfg.schedule)) sd.insert(kv.first, kv.second);
  if (cfg.has_text_encoder)
    sd.insert(std::string(prefix::clip) + "embeddings.position_ids",
              at::arange(cfg.clip.max_positions, at::kLong).unsqueeze(0));
  weights::save_safetensors(path, sd, {{"difss.sd.config", cfg.to_json()}, {"format", "pt"}});
}

}  // namespace difss::sd
