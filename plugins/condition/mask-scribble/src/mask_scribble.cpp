#include "mask_scribble.hpp"

#include <difss/condition/controlnet_util.hpp>
#include <difss/sdk/tensor_opencv.hpp>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace difss::plugins {

namespace cond = difss::condition;

namespace {

// splitmix64: a tiny, fully specified generator (std::uniform_*_distribution are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform(double lo, double hi) { return lo + (hi - lo) * double(next() >> 11) * 0x1.0p-53; }
  int integer(int lo, int hi) { return lo + int(next() % uint64_t(hi - lo + 1)); }  // [lo, hi]

 private:
  uint64_t s_;
};

// One closed outline traced with a smooth random offset: offsets drawn at knots every `spacing`
// contour points and interpolated linearly (cyclically) in between.
void draw_jittered(cv::Mat& canvas, const std::vector<cv::Point>& contour, const MaskScribbleOptions& o, Rng& rng) {
  const int n = int(contour.size());
  if (n < 2) return;
  const int knots = std::max(1, (n + o.knot_spacing - 1) / o.knot_spacing);
  std::vector<cv::Point2d> off(static_cast<size_t>(knots));
  for (auto& k : off) k = {rng.uniform(-o.jitter, o.jitter), rng.uniform(-o.jitter, o.jitter)};
  const double step = double(n) / knots;
  std::vector<cv::Point> pts(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    double t = i / step;
    int k0 = int(t) % knots, k1 = (k0 + 1) % knots;
    double f = t - std::floor(t);
    cv::Point2d d = off[size_t(k0)] * (1 - f) + off[size_t(k1)] * f;
    pts[size_t(i)] = cv::Point(int(std::lround(contour[size_t(i)].x + d.x)), int(std::lround(contour[size_t(i)].y + d.y)));
  }
  const int width = std::max(1, o.thickness + rng.integer(-1, 1) * (o.thickness > 1 ? 1 : 0));
  cv::polylines(canvas, std::vector<std::vector<cv::Point>>{pts}, /*isClosed=*/true, cv::Scalar(255), width, cv::LINE_8);
}

void draw_outlines(cv::Mat& canvas, const cv::Mat& region, const MaskScribbleOptions& o, Rng& rng) {
  std::vector<std::vector<cv::Point>> contours;
  cv::Mat work = region.clone();  // findContours may modify its input in older OpenCV
  cv::findContours(work, contours, cv::RETR_CCOMP, cv::CHAIN_APPROX_NONE);
  for (const auto& c : contours)
    if (std::max(cv::contourArea(c), double(c.size())) >= o.min_area) draw_jittered(canvas, c, o, rng);
}

}  // namespace

cv::Mat draw_mask_scribble(const cv::Mat& fg01, const MaskScribbleOptions& o) {
  if (fg01.empty() || fg01.type() != CV_8UC1)
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "mask-scribble: expected a uint8 [H, W] 0/1 mask");
  cv::Mat canvas = cv::Mat::zeros(fg01.size(), CV_8U);
  if (cv::countNonZero(fg01) == 0) return canvas;
  // The jitter depends on the seed and on the mask itself, so that supports differ from each other.
  uint64_t h = 14695981039346656037ull;
  for (int y = 0; y < fg01.rows; ++y) {
    const uint8_t* p = fg01.ptr<uint8_t>(y);
    for (int x = 0; x < fg01.cols; ++x) h = (h ^ uint64_t(p[x] != 0)) * 1099511628211ull;
  }
  Rng rng(o.seed ^ h);
  draw_outlines(canvas, fg01, o, rng);
  if (o.inner_strokes > 0) {
    cv::Mat dist;
    cv::distanceTransform(fg01, dist, cv::DIST_L2, cv::DIST_MASK_5);
    double maxd = 0;
    cv::minMaxLoc(dist, nullptr, &maxd);
    for (int k = 1; k <= o.inner_strokes; ++k) {
      const double level = maxd * k / (o.inner_strokes + 1);
      if (level < 2.0 * o.thickness) continue;  // too close to the outline to read as its own stroke
      cv::Mat inner = dist > level;
      draw_outlines(canvas, inner / 255, o, rng);
    }
  }
  return canvas;
}

sdk::Descriptor MaskScribbleCondition::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.condition.mask-scribble";
  d.name = "Scribble from the mask";
  d.description =
      "White strokes on black drawn from the support mask alone: its outline (holes included) and inner "
      "echo outlines at fractions of the object's depth, each traced with a smooth seeded jitter; "
      "resized like resize_image. No weights; deterministic for a given seed.";
  d.version = "1.0.0";
  d.param(sdk::ParamDef::integer("resolution", 512, 0, 2048,
                                 "Short side of the control map (resize_image rules); 0 = keep the support's size."));
  d.param(sdk::ParamDef::integer("seed", 0, 0, 2147483647, "Seed of the jitter and stroke widths."));
  d.param(sdk::ParamDef::integer("thickness", 3, 1, 32, "Stroke width in output pixels (varies by +-1)."));
  d.param(sdk::ParamDef::real("jitter", 2.0, 0.0, 32.0, "Largest displacement of a stroke from the outline, pixels."));
  d.param(sdk::ParamDef::integer("knot_spacing", 16, 2, 1024, "Outline pixels between jitter knots (wobble wavelength)."));
  d.param(sdk::ParamDef::integer("inner_strokes", 2, 0, 8, "Inner outlines at depths k / (n + 1) of the deepest point."));
  d.param(sdk::ParamDef::integer("min_area", 16, 0, 1 << 20, "Outlines enclosing fewer pixels are skipped."));
  d.input("image", "image", "Support image (only its size is used).");
  d.input("mask", "mask", "Support mask (1 = the class).");
  d.output("control", "image", "Scribble, 0 or 255, RGB.");
  return d;
}

MaskScribbleCondition::MaskScribbleCondition(const sdk::Host& host, const sdk::Params& p)
    : host_(host), resolution_(int(p.integer("resolution"))) {
  options_.seed = uint64_t(p.integer("seed"));
  options_.thickness = int(p.integer("thickness"));
  options_.jitter = p.real("jitter");
  options_.knot_spacing = int(p.integer("knot_spacing"));
  options_.inner_strokes = int(p.integer("inner_strokes"));
  options_.min_area = int(p.integer("min_area"));
}

sdk::OwnedTensor MaskScribbleCondition::generate(const sdk::ConditionInput& in, sdk::Call&) {
  sdk::require_port(in.image, "image", "image");
  sdk::require_port(in.mask, "mask", "mask");
  const cv::Size out =
      cond::resize_image_size(cv::Size(int(in.image.shape[1]), int(in.image.shape[0])), resolution_);
  cv::Mat fg = cond::foreground01(cond::resize_nearest(sdk::as_mat(in.mask), out));
  return sdk::to_owned(cond::hwc3(draw_mask_scribble(fg, options_)));
}

}  // namespace difss::plugins
