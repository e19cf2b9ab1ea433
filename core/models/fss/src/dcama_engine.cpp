#include <difss/fss/dcama_engine.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <difss/fss/checkpoint.hpp>
#include <difss/fss/image_prep.hpp>

#include <filesystem>
#include <stdexcept>

namespace difss::fss {

namespace {

weights::BindOptions dcama_bind_options(std::vector<std::string> ignore, std::vector<std::string> derived) {
  weights::BindOptions o = bind_options(std::move(ignore));
  for (auto& d : derived) o.keys.ignore_suffixes.push_back(std::move(d));
  return o;
}

void require_file(const std::string& path, const std::string& what) {
  if (!std::filesystem::is_regular_file(path)) throw std::invalid_argument(what + ": file not found: " + path);
}

}  // namespace

weights::BindReport load_dcama_checkpoint(DCAMA& net, const std::string& path, bool learner_only) {
  return load_into(net.named_tensors(), path, dcama_bind_options(net.unused_prefixes(), net.derived_suffixes()),
                   learner_only ? "model." : "");
}

weights::BindReport load_dcama_backbone(DCAMA& net, const std::string& path) {
  DCAMAFeatures& f = net.feature_extractor();
  return load_into(f.named_tensors(), path, dcama_bind_options(f.unused_prefixes(), f.derived_suffixes()));
}

DCAMAPrediction dcama_predict(const at::Tensor& logits, std::array<int64_t, 2> out_size) {
  at::Tensor l = logits;
  if (l.size(2) != out_size[0] || l.size(3) != out_size[1])
    l = at::upsample_bilinear2d(l, {out_size[0], out_size[1]}, /*align_corners=*/true);
  l = l.to(at::kFloat);
  return {at::softmax(l, 1).select(1, 1).contiguous(), l.argmax(1).to(at::kByte)};
}

DCAMAEngine::DCAMAEngine(std::unique_ptr<DCAMA> net, int64_t size, at::Device device, at::ScalarType dtype)
    : net_(std::move(net)), size_(size), device_(device), dtype_(dtype) {
  net_->to(device_, dtype_);
}

Segmentation DCAMAEngine::segment_at(const at::Tensor& query, const std::vector<Shot>& shots, int64_t out_h,
                                     int64_t out_w) {
  check_segmenter_inputs(query, shots);
  c10::InferenceMode guard;
  const int64_t K = int64_t(shots.size());
  std::vector<at::Tensor> imgs{prepare_image(query, size_, size_)}, masks;
  for (const auto& s : shots) {
    imgs.push_back(prepare_image(s.image, size_, size_));
    masks.push_back(prepare_mask(s.mask, size_, size_));
  }
  // The query and its supports through the backbone as one batch, then split per image.
  std::vector<at::Tensor> all = net_->features(at::cat(imgs).to(device_, dtype_));
  std::vector<at::Tensor> qf;
  std::vector<std::vector<at::Tensor>> sf(static_cast<size_t>(K));
  for (const at::Tensor& f : all) {
    qf.push_back(f.narrow(0, 0, 1));
    for (int64_t k = 0; k < K; ++k) sf[size_t(k)].push_back(f.narrow(0, 1 + k, 1));
  }
  at::Tensor m = at::cat(masks).unsqueeze(0).to(device_, dtype_);  // [1, K, S, S]
  DCAMAPrediction p = dcama_predict(net_->forward_features(qf, sf, m), {out_h, out_w});
  return {p.prob[0].to(at::kCPU).contiguous(), p.mask[0].to(at::kCPU).contiguous()};
}

std::unique_ptr<DCAMAEngine> make_dcama_engine(const DCAMAConfig& c) {
  if (c.image_size < 32 || c.image_size % 32 != 0)
    throw std::invalid_argument("'image_size' must be a positive multiple of 32 (DCAMA: 384), got " +
                                std::to_string(c.image_size));
  auto net = std::make_unique<DCAMA>(make_dcama_features(c.backbone, c.image_size));
  std::vector<weights::BindReport> reports;
  if (c.test_weights) {
    if (!c.checkpoint.empty()) throw std::invalid_argument("set either 'checkpoint' or 'test_weights', not both");
    deterministic_init(net->named_tensors());
  } else {
    if (c.checkpoint.empty())
      throw std::invalid_argument("'checkpoint' is required (an official DCAMA best_model.pt or a .safetensors with its keys)");
    require_file(c.checkpoint, "checkpoint");
    reports.push_back(load_dcama_checkpoint(*net, c.checkpoint, !c.backbone_weights.empty()));
  }
  if (!c.backbone_weights.empty()) {
    require_file(c.backbone_weights, "backbone_weights");
    reports.push_back(load_dcama_backbone(*net, c.backbone_weights));
  }
  auto engine = std::make_unique<DCAMAEngine>(std::move(net), c.image_size, c.device, c.dtype);
  engine->load_reports = std::move(reports);
  return engine;
}

}  // namespace difss::fss
