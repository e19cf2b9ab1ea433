#include "softedge_pidinet.hpp"

#include <difss/condition/checkpoint.hpp>
#include <difss/condition/controlnet_util.hpp>
#include <difss/sdk/tensor_opencv.hpp>

#include <map>
#include <mutex>

namespace difss::plugins {

namespace cond = difss::condition;

namespace {
std::shared_ptr<const PiDiNet> shared_network(const std::string& param, const sdk::Host& host) {
  auto file = cond::resolve_checkpoint(
      param, "table5_pidinet.pth", host.plugin_dir(),
      "the official file is table5_pidinet.pth from https://huggingface.co/lllyasviel/Annotators "
      "(or github.com/hellozhuo/pidinet trained_models)");
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<const PiDiNet>> cache;
  std::lock_guard<std::mutex> lock(mu);
  const std::string key = std::filesystem::absolute(file).lexically_normal().string();
  if (auto net = cache[key].lock()) return net;
  auto net = std::make_shared<const PiDiNet>(PiDiNet::from_file(file));
  cache[key] = net;
  host.info("PiDiNet loaded from " + file.string() + " (width " + std::to_string(net->width()) + ", dil " +
            std::to_string(net->dil()) + (net->sa() ? ", sa)" : ")"));
  return net;
}
}  // namespace

sdk::Descriptor SoftEdgePidiNetCondition::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.condition.softedge-pidinet";
  d.name = "PiDiNet soft edges (ControlNet 1.1 softedge_pidi)";
  d.description =
      "PiDiNet (carv4, dil, sa; table5_pidinet.pth) fused edge map of the support image resized like "
      "resize_image, sigmoid * 255 as ControlNet 1.1's PidiNetDetector, optionally multiplied by the support "
      "mask dilated once by a 14x14 ellipse (as ControlNet4FSS filters HED), 3 channels.";
  d.version = "1.0.0";
  d.param(sdk::ParamDef::path("checkpoint", "",
                              "table5_pidinet.pth; empty = look in $DIFSS_MODELS_DIR, then <plugin dir>/models."));
  d.param(sdk::ParamDef::integer("resolution", 512, 0, 2048,
                                 "Short side the image is resized to before PiDiNet (detect_resolution); 0 = keep "
                                 "the support's size."));
  d.param(sdk::ParamDef::enumeration(
      "preprocess", {"controlnet", "bsds"}, "controlnet",
      "controlnet = ControlNet 1.1's annotator input (BGR / 255); bsds = the authors' BSDS test input (RGB, "
      "ImageNet mean/std), which reproduces their published edge maps."));
  d.param(sdk::ParamDef::boolean("safe", false,
                                 "ControlNet 1.1's softedge_pidisafe: quantise the map with safe_step (3 levels)."));
  d.param(sdk::ParamDef::boolean("mask_filter", true,
                                 "Keep the edges inside the support mask dilated once by a 14x14 ellipse; false = "
                                 "the plain annotator output."));
  d.input("image", "image", "Support image.");
  d.input("mask", "mask", "Support mask (1 = the class; used when mask_filter is on).");
  d.output("control", "image", "Soft edge map, grey replicated to RGB.");
  return d;
}

SoftEdgePidiNetCondition::SoftEdgePidiNetCondition(const sdk::Host& host, const sdk::Params& p)
    : host_(host),
      net_(shared_network(p.string("checkpoint"), host)),
      resolution_(int(p.integer("resolution"))),
      preprocess_(p.string("preprocess") == "bsds" ? PiDiNet::Preprocess::Bsds : PiDiNet::Preprocess::ControlNet),
      safe_(p.boolean("safe")),
      mask_filter_(p.boolean("mask_filter")) {}

cv::Mat SoftEdgePidiNetCondition::to_u8(const cv::Mat& fused, bool safe) {
  cv::Mat out(fused.size(), CV_8U);
  for (int y = 0; y < fused.rows; ++y) {
    const float* p = fused.ptr<float>(y);
    uint8_t* o = out.ptr<uint8_t>(y);
    for (int x = 0; x < fused.cols; ++x) {
      float e = p[x];
      if (safe) e = float(int32_t(e * 3.0f)) / 2.0f;  // annotator/util.py safe_step(x, step=2)
      float v = e * 255.0f;
      o[x] = uint8_t(std::min(255.0f, std::max(0.0f, v)));
    }
  }
  return out;
}

sdk::OwnedTensor SoftEdgePidiNetCondition::generate(const sdk::ConditionInput& in, sdk::Call&) {
  sdk::require_port(in.image, "image", "image");
  sdk::require_port(in.mask, "mask", "mask");
  cv::Mat img = cond::resize_image(sdk::as_mat(in.image), resolution_);
  cv::Mat map = to_u8(net_->fused(img, preprocess_), safe_);
  if (mask_filter_) map = cond::mask_filter_fss(map, sdk::as_mat(in.mask));
  return sdk::to_owned(cond::hwc3(map));
}

}  // namespace difss::plugins
