// CyCTR on port tensors (cyctr_engine.hpp).
#include <difss/fss/cyctr_engine.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <difss/fss/checkpoint.hpp>
#include <difss/fss/pspnet_engines.hpp>
#include <difss/fss/pspnet_input.hpp>

#include <filesystem>
#include <mutex>
#include <stdexcept>

namespace difss::fss {

at::Generator seeded_cpu_generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

namespace {

void fnv1a64(uint64_t& h, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
}

void hash_tensor(uint64_t& h, const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  for (int64_t s : c.sizes()) fnv1a64(h, &s, sizeof s);
  fnv1a64(h, c.data_ptr(), size_t(c.nbytes()));
}

}  // namespace

uint64_t episode_seed(uint64_t seed, const at::Tensor& query, const std::vector<Shot>& shots) {
  uint64_t h = 14695981039346656037ull;
  fnv1a64(h, &seed, sizeof seed);
  hash_tensor(h, query);
  for (const Shot& s : shots) {
    hash_tensor(h, s.image);
    hash_tensor(h, s.mask);
  }
  return h;
}

CyCTREngine::CyCTREngine(std::unique_ptr<CyCTR> net, const CyCTRConfig& c)
    : net_(std::move(net)), size_(c.image_size), seed_(c.seed), mode_(c.sampling),
      fidelity_gen_(seeded_cpu_generator(c.seed)), device_(c.device), dtype_(c.dtype) {
  net_->to(device_, dtype_);
}

Segmentation CyCTREngine::segment_at(const at::Tensor& query, const std::vector<Shot>& shots, int64_t out_h,
                                     int64_t out_w) {
  check_segmenter_inputs(query, shots);
  if (int64_t(shots.size()) != net_->shots())
    throw std::invalid_argument("this CyCTR model takes exactly " + std::to_string(net_->shots()) + " support(s) (got " +
                                std::to_string(shots.size()) + "); set 'shots'");
  c10::InferenceMode guard;
  at::Tensor q = letterbox_image(query, size_).to(device_, dtype_);
  // The query's padding mask: letterbox of a zero mask (0 content, 255 padding).
  at::Tensor pad = letterbox_mask(at::zeros({query.size(0), query.size(1)}, at::kByte), size_).to(device_, dtype_);
  std::vector<at::Tensor> imgs, masks;
  for (auto it = shots.rbegin(); it != shots.rend(); ++it) {  // SemData's stacking order: last first
    imgs.push_back(letterbox_image(it->image, size_));
    masks.push_back(letterbox_mask(it->mask, size_));
  }
  at::Tensor sx = at::cat(imgs).unsqueeze(0).to(device_, dtype_);
  at::Tensor sy = at::cat(masks).unsqueeze(0).to(device_, dtype_);
  at::Tensor s_pad = sy.eq(255).to(dtype_) * 255;  // support_padding_label: 255 where the label is 255, and the padding
  at::Tensor out;
  if (mode_ == SamplingMode::fidelity) {
    // The calls share one draw sequence. (Not the generator's own mutex: randperm takes that one.)
    std::lock_guard<std::mutex> lock(fidelity_mutex_);
    out = net_->forward(q, sx, sy, pad, s_pad, fidelity_gen_);
  } else {
    out = net_->forward(q, sx, sy, pad, s_pad, seeded_cpu_generator(episode_seed(seed_, query, shots)));
  }
  if (out_h != size_ || out_w != size_) out = letterbox_to_original(out.to(at::kFloat), out_h, out_w);
  return two_class_output(out);
}

std::unique_ptr<CyCTREngine> make_cyctr_engine(const CyCTRConfig& c) {
  if (c.image_size < 65 || (c.image_size - 1) % 8 != 0)
    throw std::invalid_argument("'image_size' = " + std::to_string(c.image_size) +
                                ": CyCTR needs 8k + 1 (473 PASCAL, 641 COCO), at least 65");
  if (c.per_shot < 1) throw std::invalid_argument("'per_shot' must be >= 1");
  auto net = std::make_unique<CyCTR>(c.shots, 256, at::kCPU, c.per_shot);
  std::vector<NamedTensor> all = net->named_tensors();
  std::vector<std::string> ignore = CyCTR::training_only_prefixes();
  if (!c.backbone.empty()) {
    // PFENet's resnet50_v2.pth (conv1, bn1, ..., layer4, and fc, unused) for backbone.body.*. The
    // backbone is frozen in CyCTR's training, so a checkpoint's copy is the same; it is ignored.
    if (!std::filesystem::is_regular_file(c.backbone)) throw std::invalid_argument("backbone: file not found: " + c.backbone);
    std::vector<NamedTensor> body, rest;
    for (const NamedTensor& nt : all) {
      if (nt.name.rfind("backbone.body.", 0) == 0) body.push_back({nt.name.substr(14), nt.tensor, nt.trainable});
      else rest.push_back(nt);
    }
    load_into(body, c.backbone, bind_options({"fc."}));
    ignore.push_back("backbone.body.");
    all = rest;
  }
  init_or_load(all, c.checkpoint, c.test_weights, "CyCTR", ignore);
  return std::make_unique<CyCTREngine>(std::move(net), c);
}

}  // namespace difss::fss
