#include "canny.hpp"

#include <difss/sdk/tensor_opencv.hpp>

#include <opencv2/imgproc.hpp>

#include <cmath>

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

// ControlNet's resize_image: scale so the short side is `res`, round both sides to multiples
// of 64; Lanczos when enlarging, area when shrinking (nearest for masks).
static cv::Mat resize_like_controlnet(const cv::Mat& img, int res, bool nearest) {
  if (res <= 0) return img;
  double k = double(res) / std::min(img.rows, img.cols);
  int h = int(std::lround(img.rows * k / 64.0)) * 64;
  int w = int(std::lround(img.cols * k / 64.0)) * 64;
  cv::Mat out;
  int interp = nearest ? cv::INTER_NEAREST : (k > 1 ? cv::INTER_LANCZOS4 : cv::INTER_AREA);
  cv::resize(img, out, cv::Size(w, h), 0, 0, interp);
  return out;
}

sdk::OwnedTensor CannyCondition::generate(const sdk::ConditionInput& in, sdk::Call&) {
  sdk::require_port(in.image, "image", "image");
  sdk::require_port(in.mask, "mask", "mask");
  cv::Mat img = resize_like_controlnet(sdk::as_mat(in.image), resolution_, false);
  cv::Mat edges;
  cv::Canny(img, edges, low_, high_);
  if (mask_filter_) {
    cv::Mat fg = sdk::as_mat(in.mask) == 1;
    fg = resize_like_controlnet(fg, resolution_, true);
    cv::Mat kernel = cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(14, 14));
    cv::dilate(fg, fg, kernel);
    edges.setTo(0, fg == 0);
  }
  cv::Mat rgb;
  cv::cvtColor(edges, rgb, cv::COLOR_GRAY2RGB);
  return sdk::to_owned(rgb);
}

}  // namespace difss::plugins
