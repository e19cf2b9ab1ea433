// ParamBinder, checkpoint mapping (through difss_weights' parsers), config inference and the
// random checkpoint writer.
#include <difss/sd/binder.hpp>
#include <difss/sd/loading.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <difss/weights/load.hpp>
#include <difss/weights/save.hpp>
#include <difss/weights/state_dict.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

// ================================ ParamBinder =====================================================

ParamBinder ParamBinder::shapes() { return ParamBinder(); }

ParamBinder ParamBinder::loading(Lookup lookup, at::ScalarType dtype, c10::Device device,
                                 Release release) {
  ParamBinder b;
  b.mode_ = Mode::Load;
  b.lookup_ = std::move(lookup);
  b.release_ = std::move(release);
  b.dtype_ = dtype;
  b.device_ = device;
  return b;
}

ParamBinder ParamBinder::random(uint64_t seed, at::ScalarType dtype, c10::Device device) {
  ParamBinder b;
  b.mode_ = Mode::Random;
  b.dtype_ = dtype;
  b.device_ = device;
  b.generator_ = std::make_shared<at::Generator>(at::make_generator<at::CPUGeneratorImpl>(seed));
  return b;
}

namespace {
std::string shape_str(const std::vector<int64_t>& s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
  return o + "]";
}
bool keeps_fp32(Init init) { return init == Init::NormWeight || init == Init::NormBias; }
}  // namespace

at::Tensor ParamBinder::param(const std::string& name, std::vector<int64_t> shape, Init init) {
  specs_.push_back({name, shape, false});
  const at::ScalarType target = keeps_fp32(init) ? at::kFloat : dtype_;
  const auto opts = at::TensorOptions().dtype(target).device(device_);
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
      t = t.to(opts);
      produced_.emplace_back(name, t);
      return t;
    }
    case Mode::Load: {
      const at::Tensor* src = lookup_ ? lookup_(name) : nullptr;
      if (!src) {
        missing_.push_back(name);
        return {};
      }
      if (src->sizes().vec() != shape) {
        mismatched_.push_back(name + ": checkpoint " + shape_str(src->sizes().vec()) +
                              ", model " + shape_str(shape));
        return {};
      }
      if (!at::isFloatingType(src->scalar_type())) {
        mismatched_.push_back(name + ": not a floating-point tensor");
        return {};
      }
      at::Tensor t = src->to(opts).contiguous();
      if (t.data_ptr() != src->data_ptr() && release_) release_(name);
      produced_.emplace_back(name, t);
      return t;
    }
  }
  return {};
}

at::Tensor ParamBinder::buffer(const std::string& name, std::vector<int64_t> shape) {
  specs_.push_back({name, shape, true});
  if (mode_ != Mode::Load) return {};
  const at::Tensor* src = lookup_ ? lookup_(name) : nullptr;
  if (!src) return {};
  if (src->sizes().vec() != shape) {
    mismatched_.push_back(name + ": checkpoint " + shape_str(src->sizes().vec()) + ", model " +
                          shape_str(shape));
    return {};
  }
  produced_.emplace_back(name, *src);
  return *src;
}

void ParamBinder::finish(const std::string& source) const {
  if (missing_.empty() && mismatched_.empty()) return;
  std::ostringstream msg;
  msg << source << ": the checkpoint does not fit the model";
  auto list = [&](const char* what, const std::vector<std::string>& v) {
    if (v.empty()) return;
    msg << "; " << v.size() << " " << what << ": ";
    for (size_t i = 0; i < v.size() && i < 12; ++i) msg << (i ? ", " : "") << v[i];
    if (v.size() > 12) msg << ", ... (" << v.size() - 12 << " more)";
  };
  list("missing", missing_);
  list("with the wrong shape", mismatched_);
  throw std::runtime_error(msg.str());
}

// ================================ mapped checkpoints ==============================================

namespace {

at::ScalarType to_scalar(weights::DType d) {
  switch (d) {
    case weights::DType::F64: return at::kDouble;
    case weights::DType::F32: return at::kFloat;
    case weights::DType::F16: return at::kHalf;
    case weights::DType::BF16: return at::kBFloat16;
    case weights::DType::I64: return at::kLong;
    case weights::DType::I32: return at::kInt;
    case weights::DType::I16: return at::kShort;
    case weights::DType::I8: return at::kChar;
    case weights::DType::U8: return at::kByte;
    case weights::DType::Bool: return at::kBool;
    case weights::DType::C64: return at::kComplexFloat;
    case weights::DType::C128: return at::kComplexDouble;
  }
  return at::kFloat;
}

// A private read-only mapping of a whole file (read-only: no commit charge for 5.7 GB; the
// models never write into their weights).
struct Mapping {
  void* data = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (data) munmap(data, size);
  }
};

// Live mappings, so that release_mapped_pages() only ever advises pages of our read-only private
// file mappings (MADV_DONTNEED on anonymous memory would zero it).
std::mutex g_mappings_mutex;
std::vector<std::weak_ptr<Mapping>> g_mappings;

void register_mapping(const std::shared_ptr<Mapping>& m) {
  std::lock_guard<std::mutex> lock(g_mappings_mutex);
  g_mappings.erase(std::remove_if(g_mappings.begin(), g_mappings.end(),
                                  [](const std::weak_ptr<Mapping>& w) { return w.expired(); }),
                   g_mappings.end());
  g_mappings.push_back(m);
}

void drop_pages(uintptr_t b, uintptr_t e) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  b = (b + page - 1) / page * page;
  e = e / page * page;
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

// One checkpoint file: index from difss_weights, tensors as views of our own mapping (so that
// converted tensors can give their pages back with madvise).
class MappedCheckpoint {
 public:
  MappedCheckpoint(const std::string& path) : path_(path) {
    if (!std::filesystem::exists(path)) throw std::runtime_error(path + ": checkpoint not found");
    weights::LoadOptions lo;
    lo.allow_inert_globals = true;  // Lightning .ckpt carry callbacks/hparams objects
    index_ = weights::inspect(path, lo);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
      ::close(fd);
      throw std::runtime_error(path + ": cannot stat or empty");
    }
    map_ = std::make_shared<Mapping>();
    map_->size = size_t(st.st_size);
    map_->data = mmap(nullptr, map_->size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map_->data == MAP_FAILED) {
      map_->data = nullptr;
      throw std::runtime_error(path + ": cannot map: " + std::strerror(errno));
    }
    register_mapping(map_);
    for (size_t i = 0; i < index_.tensors.size(); ++i) by_name_[index_.tensors[i].name] = i;
    for (const auto& kv : index_.metadata) metadata_[kv.first] = kv.second;
  }

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::vector<std::string> names() const {
    std::vector<std::string> n;
    for (const auto& t : index_.tensors) n.push_back(t.name);
    return n;
  }
  const std::vector<int64_t>& shape(const std::string& name) const {
    return index_.tensors[by_name_.at(name)].sizes;
  }
  bool has(const std::string& name) const { return by_name_.count(name) != 0; }

  // View of the stored tensor (created on first use; the mapping lives while views do).
  const at::Tensor* tensor(const std::string& name) {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return nullptr;
    auto c = views_.find(name);
    if (c != views_.end()) return &c->second;
    const weights::TensorRecord& r = index_.tensors[it->second];
    const weights::StorageRecord& s = index_.storages.at(r.storage);
    const at::ScalarType st = to_scalar(r.dtype);
    const size_t esize = weights::dtype_size(r.dtype);
    const uint8_t* base = static_cast<const uint8_t*>(map_->data) + s.offset + r.storage_offset * esize;
    at::Tensor t;
    auto opts = at::TensorOptions().dtype(st);
    if (reinterpret_cast<uintptr_t>(base) % esize != 0) {  // misaligned: copy
      at::Tensor tmp = at::empty({int64_t(s.numel)}, opts);
      std::memcpy(tmp.data_ptr(), static_cast<const uint8_t*>(map_->data) + s.offset, s.nbytes());
      t = tmp.as_strided(r.sizes, r.strides, int64_t(r.storage_offset));
    } else {
      auto keep = map_;
      t = at::from_blob(const_cast<uint8_t*>(base), r.sizes, r.strides,
                        [keep](void*) {}, opts);
    }
    return &views_.emplace(name, t).first->second;
  }

  // Drops the resident pages of `name` (file-backed private pages never written: they are
  // simply re-read from the file if touched again) and forgets its view.
  void release(const std::string& name) {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return;
    const weights::TensorRecord& r = index_.tensors[it->second];
    const weights::StorageRecord& s = index_.storages.at(r.storage);
    const uintptr_t b = reinterpret_cast<uintptr_t>(map_->data) + s.offset;
    drop_pages(b, b + s.nbytes());
    views_.erase(name);
  }

 private:
  std::string path_;
  weights::CheckpointIndex index_;
  std::shared_ptr<Mapping> map_;
  std::unordered_map<std::string, size_t> by_name_;
  std::unordered_map<std::string, at::Tensor> views_;
  std::map<std::string, std::string> metadata_;
};

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

}  // namespace

void release_mapped_pages(const std::vector<at::Tensor>& weights) {
  std::vector<std::shared_ptr<Mapping>> live;
  {
    std::lock_guard<std::mutex> lock(g_mappings_mutex);
    for (const auto& w : g_mappings)
      if (auto m = w.lock()) live.push_back(m);
  }
  for (const at::Tensor& t : weights) {
    if (!t.defined() || !t.device().is_cpu()) continue;
    const uintptr_t b = reinterpret_cast<uintptr_t>(t.data_ptr());
    const uintptr_t e = b + t.numel() * t.element_size();
    for (const auto& m : live) {
      const uintptr_t mb = reinterpret_cast<uintptr_t>(m->data), me = mb + m->size;
      if (b >= mb && e <= me) {
        drop_pages(b, e);
        break;
      }
    }
  }
}

namespace {

// Keys nobody needs and nobody should be warned about.
bool tolerated(const std::string& k) {
  return starts_with(k, "model_ema.") || k == "model_ema" ||
         k.find("position_ids") != std::string::npos;
}

// Canonical (ControlLDM) name of a key of a control-only file.
std::string canonical_control_key(const std::string& k, bool bare) {
  return bare ? std::string(prefix::control) + k : k;
}

// Canonical name of a key of an SD checkpoint (older CLIP layout without "text_model.").
std::string canonical_base_key(const std::string& k) {
  static const std::string old = "cond_stage_model.transformer.";
  if (starts_with(k, old.c_str()) && !starts_with(k, prefix::clip))
    return std::string(prefix::clip) + k.substr(old.size());
  return k;
}

struct Source {
  MappedCheckpoint* file;
  std::string key;  // name inside the file
};

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
  ParamBinder b = ParamBinder::shapes();
  ControlLDM::build(cfg, b);
  return b.specs();
}

ControlLDM random_control_ldm(const ModelConfig& cfg, uint64_t seed, at::ScalarType dtype,
                              c10::Device device) {
  ParamBinder b = ParamBinder::random(seed, dtype, device);
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

  MappedCheckpoint main_file(spec.checkpoint);
  std::unique_ptr<MappedCheckpoint> base_file;
  if (!spec.base_checkpoint.empty())
    base_file = std::make_unique<MappedCheckpoint>(spec.base_checkpoint);

  LoadReport report;
  // canonical name -> where to read it
  std::unordered_map<std::string, Source> table;
  std::vector<std::pair<std::string, std::string>> all_keys;  // (file, key) for the unused list
  const bool bare_control = main_file.has("input_hint_block.0.weight");
  if (bare_control) report.notes.push_back(spec.checkpoint + ": control-only keys without 'control_model.'");
  for (const std::string& k : main_file.names()) {
    all_keys.emplace_back(spec.checkpoint, k);
    if (tolerated(k)) continue;
    std::string ck = bare_control ? canonical_control_key(k, true) : canonical_base_key(k);
    table[ck] = Source{&main_file, k};
  }
  if (base_file) {
    for (const std::string& k : base_file->names()) {
      all_keys.emplace_back(spec.base_checkpoint, k);
      if (tolerated(k)) continue;
      std::string ck = canonical_base_key(k);
      if (starts_with(ck, prefix::control)) continue;  // control comes from `checkpoint`
      table[ck] = Source{base_file.get(), k};           // the base wins for everything else
    }
  }
  ShapeTable shapes;
  for (const auto& kv : table) shapes.emplace_back(kv.first, kv.second.file->shape(kv.second.key));
  std::map<std::string, std::string> metadata = main_file.metadata();
  ModelConfig cfg = infer_model_config(shapes, metadata);
  if (!cfg.has_control)
    throw std::runtime_error(spec.checkpoint + ": no ControlNet weights (control_model.*) found");
  if (!cfg.has_unet || !cfg.has_vae)
    throw std::runtime_error(
        spec.checkpoint + ": no Stable Diffusion UNet/VAE weights found" +
        (base_file ? " in it nor in " + spec.base_checkpoint
                   : "; a control-only file needs base_checkpoint (e.g. v1-5-pruned.ckpt)"));
  if (!cfg.has_text_encoder && options.text_encoder && cfg.class_embed_classes == 0)
    throw std::runtime_error(spec.checkpoint + ": no CLIP text encoder weights (cond_stage_model.*) found");
  cfg.has_vae_encoder = cfg.has_vae_encoder && options.vae_encoder;
  cfg.has_text_encoder = cfg.has_text_encoder && options.text_encoder;

  std::set<std::string> used;
  auto lookup = [&](const std::string& name) -> const at::Tensor* {
    auto it = table.find(name);
    if (it == table.end()) return nullptr;
    used.insert(name);
    return it->second.file->tensor(it->second.key);
  };
  auto release = [&](const std::string& name) {
    auto it = table.find(name);
    if (it != table.end()) it->second.file->release(it->second.key);
  };
  ParamBinder binder = ParamBinder::loading(lookup, options.dtype, options.device, release);
  LoadedModel out{ControlLDM::build(cfg, binder), {}, {}, {}, {}};
  binder.finish(spec.checkpoint + (base_file ? " + " + spec.base_checkpoint : ""));
  for (const auto& kv : binder.produced()) {
    if (starts_with(kv.first, prefix::unet) || starts_with(kv.first, prefix::control))
      out.denoiser_weights.push_back(kv.second);
    else if (starts_with(kv.first, prefix::clip))
      out.text_weights.push_back(kv.second);
    else if (starts_with(kv.first, prefix::vae))
      out.vae_weights.push_back(kv.second);
  }

  std::set<std::string> skipped_parts;  // parts present in the file that were not requested
  for (const auto& kv : table) {
    if (used.count(kv.first)) continue;
    if (starts_with(kv.first, "first_stage_model.encoder.") || kv.first.rfind("first_stage_model.quant_conv", 0) == 0)
      continue;  // the VAE encoder, not loaded unless requested
    if (!options.text_encoder && starts_with(kv.first, "cond_stage_model.")) continue;
    report.unused_keys.push_back(kv.first);
  }
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
  ParamBinder b = ParamBinder::random(seed, at::kFloat, c10::Device(c10::kCPU));
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
