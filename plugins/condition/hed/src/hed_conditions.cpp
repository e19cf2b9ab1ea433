#include "hed_conditions.hpp"

#include "controlnet_hed.hpp"

#include <difss/condition/checkpoint.hpp>
#include <difss/condition/controlnet_util.hpp>
#include <difss/sdk/tensor_opencv.hpp>

#include <opencv2/imgproc.hpp>

#include <map>
#include <mutex>

namespace difss::plugins {

namespace cond = difss::condition;

namespace {
const char* kDownload =
    "the official file is ControlNetHED.pth from https://huggingface.co/lllyasviel/Annotators";

void common_params(sdk::Descriptor& d) {
  d.param(sdk::ParamDef::path("checkpoint", "",
                              "ControlNetHED.pth (lllyasviel/Annotators); empty = look in $DIFSS_MODELS_DIR, "
                              "then <plugin dir>/models."));
  d.param(sdk::ParamDef::integer("resolution", 512, 0, 2048,
                                 "Short side the image is resized to before HED (ControlNet4FSS detect_resolution); "
                                 "0 = keep the support's size."));
  d.param(sdk::ParamDef::boolean("mask_filter", true,
                                 "Keep the edges inside the support mask dilated once by a 14x14 ellipse, as "
                                 "FSSpregenerate.py does; false = the plain annotator output."));
  d.input("image", "image", "Support image.");
  d.input("mask", "mask", "Support mask (1 = the class).");
}
}  // namespace

std::shared_ptr<const ControlNetHed> shared_hed_network(const std::string& checkpoint_param,
                                                        const sdk::Host& host) {
  auto file = cond::resolve_checkpoint(checkpoint_param, "ControlNetHED.pth", host.plugin_dir(), kDownload);
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<const ControlNetHed>> cache;
  std::lock_guard<std::mutex> lock(mu);
  const std::string k = std::filesystem::absolute(file).lexically_normal().string();
  if (auto net = cache[k].lock()) return net;
  auto net = std::make_shared<const ControlNetHed>(ControlNetHed::from_file(file));
  cache[k] = net;
  auto w = net->widths();
  host.info("HED network loaded from " + file.string() + " (widths " + std::to_string(w[0]) + ".." +
            std::to_string(w[4]) + ")");
  return net;
}

cv::Mat masked_hed_map(const ControlNetHed& net, const cv::Mat& rgb, const cv::Mat& mask, int resolution,
                       bool mask_filter) {
  cv::Mat raw = net.detect(cond::resize_image(rgb, resolution));
  return mask_filter ? cond::mask_filter_fss(raw, mask) : raw;
}

// ---------------------------------------------------------------------------------------------
sdk::Descriptor HedCondition::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.condition.hed";
  d.name = "HED soft edges (ControlNet annotator)";
  d.description =
      "ControlNet's HED annotator (ControlNetHED_Apache2) on the support image resized like resize_image, "
      "multiplied by the support mask dilated once by a 14x14 ellipse (ControlNet4FSS hed_control), 3 channels.";
  d.version = "1.0.0";
  common_params(d);
  d.output("control", "image", "Soft edge map, grey replicated to RGB.");
  return d;
}

HedCondition::HedCondition(const sdk::Host& host, const sdk::Params& p)
    : host_(host),
      net_(shared_hed_network(p.string("checkpoint"), host)),
      resolution_(int(p.integer("resolution"))),
      mask_filter_(p.boolean("mask_filter")) {}

sdk::OwnedTensor HedCondition::generate(const sdk::ConditionInput& in, sdk::Call&) {
  sdk::require_port(in.image, "image", "image");
  sdk::require_port(in.mask, "mask", "mask");
  cv::Mat map = masked_hed_map(*net_, sdk::as_mat(in.image), sdk::as_mat(in.mask), resolution_, mask_filter_);
  return sdk::to_owned(cond::hwc3(map));
}

// ---------------------------------------------------------------------------------------------
sdk::Descriptor ScribbleCondition::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.condition.scribble";
  d.name = "Scribble from HED (ControlNet4FSS)";
  d.description =
      "ControlNet4FSS scribble_control: the masked HED map (as org.difss.condition.hed) resized with "
      "resize_image(image_resolution), 255 where every channel exceeds `threshold`, else 0.";
  d.version = "1.0.0";
  common_params(d);
  d.param(sdk::ParamDef::integer("image_resolution", 512, 0, 2048,
                                 "Short side of the output (the second resize_image of scribble_control; an "
                                 "identity when equal to `resolution`); 0 = keep the HED map's size."));
  d.param(sdk::ParamDef::integer("threshold", 127, 0, 254, "A pixel is a stroke when its value exceeds this."));
  d.output("control", "image", "Binary scribble, 0 or 255, RGB.");
  return d;
}

ScribbleCondition::ScribbleCondition(const sdk::Host& host, const sdk::Params& p)
    : host_(host),
      net_(shared_hed_network(p.string("checkpoint"), host)),
      resolution_(int(p.integer("resolution"))),
      image_resolution_(int(p.integer("image_resolution"))),
      threshold_(int(p.integer("threshold"))),
      mask_filter_(p.boolean("mask_filter")) {}

sdk::OwnedTensor ScribbleCondition::generate(const sdk::ConditionInput& in, sdk::Call&) {
  sdk::require_port(in.image, "image", "image");
  sdk::require_port(in.mask, "mask", "mask");
  cv::Mat map = masked_hed_map(*net_, sdk::as_mat(in.image), sdk::as_mat(in.mask), resolution_, mask_filter_);
  // HWC3 replicates the grey map, so min over channels == the grey value; resizing per channel
  // commutes with that.
  cv::Mat resized = cond::resize_image(map, image_resolution_);
  cv::Mat strokes;
  cv::threshold(resized, strokes, threshold_, 255, cv::THRESH_BINARY);  // > threshold -> 255
  return sdk::to_owned(cond::hwc3(strokes));
}

}  // namespace difss::plugins
