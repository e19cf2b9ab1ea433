#include "canny.hpp"

#include <difss/condition/controlnet_util.hpp>
#include <difss/sdk/tensor_opencv.hpp>

#include <opencv2/imgproc.hpp>

namespace difss::plugins {

sdk::Descriptor CannyCondition::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.condition.canny";
  d.name = "Canny edges";
  d.description =
      "Canny edges of the support image (OpenCV, as ControlNet's canny annotator), white on "
      "black, resized like ControlNet4FSS (short side `resolution`, sides multiples of 64).";
  d.version = "1.0.0";
  d.param(sdk::ParamDef::integer("low_threshold", 100, 1, 255, "Lower hysteresis threshold."));
  d.param(sdk::ParamDef::integer("high_threshold", 200, 1, 255, "Upper hysteresis threshold."));
  d.param(sdk::ParamDef::boolean("mask_filter", false,
                                 "Keep only edges inside the support mask dilated by a 14x14 ellipse."));
  d.param(sdk::ParamDef::integer("resolution", 512, 0, 2048,
                                 "Short side of the control map (0 = keep the support's size)."));
  d.input("image", "image", "Support image.");
  d.input("mask", "mask", "Support mask (used when mask_filter is on).");
  d.output("control", "image", "Edge map, RGB, 0 or 255.");
  return d;
}

CannyCondition::CannyCondition(const sdk::Host& host, const sdk::Params& p)
    : host_(host),
      low_(int(p.integer("low_threshold"))),
      high_(int(p.integer("high_threshold"))),
      mask_filter_(p.boolean("mask_filter")),
      resolution_(int(p.integer("resolution"))) {
  if (low_ > high_)
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT,
                     "low_threshold (" + std::to_string(low_) + ") must not exceed high_threshold (" +
                         std::to_string(high_) + ")");
}

sdk::OwnedTensor CannyCondition::generate(const sdk::ConditionInput& in, sdk::Call&) {
  sdk::require_port(in.image, "image", "image");
  sdk::require_port(in.mask, "mask", "mask");
  // ControlNet's resize_image (np.round ties to even; Lanczos up, area down), shared helpers.
  cv::Mat img = condition::resize_image(sdk::as_mat(in.image), resolution_);
  cv::Mat edges;
  cv::Canny(img, edges, low_, high_);
  if (mask_filter_) edges = condition::mask_filter_fss(edges, sdk::as_mat(in.mask));
  cv::Mat rgb;
  cv::cvtColor(edges, rgb, cv::COLOR_GRAY2RGB);
  return sdk::to_owned(rgb);
}

}  // namespace difss::plugins
