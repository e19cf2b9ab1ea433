#include <difss/fss/engines.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <difss/fss/checkpoint.hpp>
#include <difss/fss/onnx_extractor.hpp>

#include <filesystem>
#include <sstream>
#include <stdexcept>

namespace difss::fss {

void check_segmenter_inputs(const at::Tensor& query, const std::vector<Shot>& shots) {
  auto image_ok = [](const at::Tensor& t) { return t.defined() && t.dim() == 3 && t.size(2) == 3 && t.scalar_type() == at::kByte && t.size(0) > 0 && t.size(1) > 0; };
  if (!image_ok(query)) throw std::invalid_argument("query: expected a uint8 [H, W, 3] image");
  if (shots.empty()) throw std::invalid_argument("at least one support is required");
  for (size_t k = 0; k < shots.size(); ++k) {
    const auto& s = shots[k];
    if (!image_ok(s.image)) throw std::invalid_argument("support_images[" + std::to_string(k) + "]: expected a uint8 [H, W, 3] image");
    if (!s.mask.defined() || s.mask.dim() != 2 || s.mask.scalar_type() != at::kByte)
      throw std::invalid_argument("support_masks[" + std::to_string(k) + "]: expected a uint8 [H, W] mask");
    if (s.mask.size(0) != s.image.size(0) || s.mask.size(1) != s.image.size(1))
      throw std::invalid_argument("support_masks[" + std::to_string(k) + "]: size " + std::to_string(s.mask.size(0)) + "x" +
                                  std::to_string(s.mask.size(1)) + " differs from its image's " +
                                  std::to_string(s.image.size(0)) + "x" + std::to_string(s.image.size(1)));
  }
}

HSNetEngine::HSNetEngine(std::unique_ptr<HSNet> net, int64_t size, at::Device device, at::ScalarType dtype)
    : net_(std::move(net)), size_(size), device_(device), dtype_(dtype) {
  net_->to(device_, dtype_);
}

Segmentation HSNetEngine::segment_at(const at::Tensor& query, const std::vector<Shot>& shots,
                                     int64_t out_h, int64_t out_w) {
  check_segmenter_inputs(query, shots);
  c10::InferenceMode guard;
  at::Tensor q = prepare_image(query, size_, size_).to(device_, dtype_);
  std::vector<at::Tensor> imgs, masks;
  std::vector<double> weights;
  for (const auto& s : shots) {
    imgs.push_back(prepare_image(s.image, size_, size_));
    masks.push_back(prepare_mask(s.mask, size_, size_));
    weights.push_back(s.weight);
  }
  HSNetPrediction p = predict_nshot(*net_, q, at::cat(imgs).to(device_, dtype_), at::cat(masks).to(device_, dtype_),
                                    {out_h, out_w}, weights);
  return {p.prob[0].to(at::kCPU, at::kFloat).contiguous(), p.mask[0].to(at::kCPU).contiguous()};
}

PrototypeEngine::PrototypeEngine(std::unique_ptr<FeatureExtractor> fx, int64_t size, PrototypeOptions opt,
                                 Normalization norm)
    : fx_(std::move(fx)), size_(size), opt_(opt), norm_(norm) {}

PrototypeResult PrototypeEngine::run(const at::Tensor& query, const std::vector<Shot>& shots,
                                     int64_t out_h, int64_t out_w) {
  if (out_h < 1 || out_w < 1) {
    out_h = query.size(0);
    out_w = query.size(1);
  }
  check_segmenter_inputs(query, shots);
  c10::InferenceMode guard;
  std::vector<at::Tensor> imgs, fg, valid;
  std::vector<double> weights;
  imgs.push_back(prepare_image(query, size_, size_, norm_));
  for (const auto& s : shots) {
    weights.push_back(s.weight);
    imgs.push_back(prepare_image(s.image, size_, size_, norm_));
    fg.push_back(prepare_mask(s.mask, size_, size_));
    valid.push_back(prepare_valid(s.mask, size_, size_));
  }
  // One batch: query first, then the supports.
  std::vector<at::Tensor> feats = fx_->extract(at::cat(imgs));
  std::vector<at::Tensor> qf, sf;
  for (const auto& f : feats) {
    qf.push_back(f.narrow(0, 0, 1));
    sf.push_back(f.narrow(0, 1, f.size(0) - 1));
  }
  return match_features(qf, sf, at::cat(fg), at::cat(valid), {out_h, out_w}, opt_, weights);
}

Segmentation PrototypeEngine::segment_at(const at::Tensor& query, const std::vector<Shot>& shots,
                                         int64_t out_h, int64_t out_w) {
  PrototypeResult r = run(query, shots, out_h, out_w);
  return {r.prob, r.mask};
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

namespace {
void require_file(const std::string& path, const std::string& what) {
  if (!std::filesystem::is_regular_file(path)) throw std::invalid_argument(what + ": file not found: " + path);
}
}  // namespace

std::unique_ptr<HSNetEngine> make_hsnet_engine(const HSNetConfig& c) {
  auto net = std::make_unique<HSNet>(c.backbone);
  auto all = net->named_tensors();
  if (c.test_weights) {
    if (!c.checkpoint.empty()) throw std::invalid_argument("set either 'checkpoint' or 'test_weights', not both");
    deterministic_init(all);
  } else {
    if (c.checkpoint.empty())
      throw std::invalid_argument("'checkpoint' is required (an official HSNet .pt or a .safetensors with its keys)");
    require_file(c.checkpoint, "checkpoint");
    // With separate backbone weights, the checkpoint must hold the learner; a backbone in it is
    // loaded too and then replaced.
    load_into(all, c.checkpoint, bind_options(net->unused_prefixes()), c.backbone_weights.empty() ? "" : "hpn_learner.");
  }
  if (!c.backbone_weights.empty()) {
    require_file(c.backbone_weights, "backbone_weights");
    load_into(net->backbone().named_tensors(), c.backbone_weights, bind_options(net->backbone().unused_prefixes()));
  }
  // Folded here and again by the engine's to(). Folding only once (moving first, refolding only on
  // a real move) was measured worse under tcmalloc: peak RSS +93 MB, twice the page-fault time
  // (0.59-0.65 vs 0.27-0.31 sys-s per bench run), episodes up to 10 % slower; apparently the first
  // copy's freed pages then serve the episodes' activations.
  if (c.fold_batchnorm) net->backbone().fold_for_inference();
  return std::make_unique<HSNetEngine>(std::move(net), c.image_size, c.device, c.dtype);
}

std::unique_ptr<PrototypeEngine> make_prototype_engine(const PrototypeConfig& c) {
  if (c.layers.empty()) throw std::invalid_argument("'layers' is empty: name at least one layer of the backbone");
  if (c.image_size < 32) throw std::invalid_argument("'image_size' must be at least 32");
  std::unique_ptr<FeatureExtractor> fx;
  if (c.backbone == "onnx") {
    if (c.model.empty()) throw std::invalid_argument("'model' is required: the .onnx file of the backbone");
    require_file(c.model, "model");
    fx = make_onnx_extractor(c.model, c.layers);
  } else {
    std::shared_ptr<Backbone> bb = make_backbone(c.backbone);
    if (c.test_weights) {
      deterministic_init(bb->named_tensors());
    } else {
      if (c.model.empty())
        throw std::invalid_argument("'model' is required: torchvision-layout weights of " + c.backbone);
      require_file(c.model, "model");
      std::vector<std::string> ignore = bb->unused_prefixes();
      ignore.push_back("hpn_learner.");
      // Accept a bare torchvision file and an HSNet checkpoint's "backbone." part alike.
      load_into(bb->named_tensors(), c.model, bind_options(ignore, {"module.backbone.", "backbone.", "module."}));
    }
    fx = make_backbone_extractor(std::move(bb), c.layers);
  }
  return std::make_unique<PrototypeEngine>(std::move(fx), c.image_size, c.options);
}

}  // namespace difss::fss
