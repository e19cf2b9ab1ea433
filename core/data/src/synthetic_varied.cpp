// The `varied` world of the synthetic dataset: class = shape family, appearance per instance.
//
// Why: in the classic world a class has one palette and one pattern, so one support shows how
// every query of its class looks and generated supports can add nothing. Here each class has
// three appearance modes (a hue and a texture each, like the colour morphs of a real category);
// an instance takes one mode at random, with jittered colours, a lighting ramp and colour cast
// over the whole image and one of three background kinds. A class-conditioned generator that
// learned the modes can show a segmenter the modes its one real support lacks (DifFSS's claim).
#include <algorithm>
#include <array>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "difss/data/synthetic.hpp"
#include "synthetic_paint.hpp"

namespace difss::data {

using namespace synthetic_paint;

namespace {

constexpr int kModes = 3;

struct Mode {
  double hue = 0, second_hue = 0;  // degrees
  Pattern pattern = Pattern::plain;
};

// Class c (0-based), mode m: hues spread round the wheel (classes overlap in hue, so colour alone
// never names a class), every texture used by every fold.
Mode mode_of(int c, int m) {
  static const std::array<double, kModes> second = {40, 160, 250};
  Mode mo;
  mo.hue = std::fmod(c * 67.0 + m * 120.0 + 15.0, 360.0);
  mo.second_hue = mo.hue + second[size_t(m)];
  mo.pattern = Pattern((c + 2 * m) % 5);
  return mo;
}

cv::Mat paint_varied_object(cv::Mat& rgb, int class_id, const Pose& p, Draw& d, double unit) {
  const cv::Mat obj = shape_raster(rgb.rows, class_id - 1, p);
  const Mode mo = mode_of(class_id - 1, d.integer(0, kModes - 1));
  const cv::Vec3d a = hsv_to_rgb(mo.hue + d.uniform(-12, 12), d.uniform(0.65, 0.95), d.uniform(0.75, 1.0));
  const cv::Vec3d b = hsv_to_rgb(mo.second_hue + d.uniform(-15, 15), d.uniform(0.55, 0.9), d.uniform(0.5, 0.8));
  const double period = unit * d.uniform(5.0, 10.0);
  const double ph_u = d.uniform(0, period), ph_v = d.uniform(0, period);
  paint_texture(rgb, obj, p, {mo.pattern, a, b, period, ph_u, ph_v, period * 0.3});
  return obj;
}

// Muted backgrounds (saturation <= 0.3, so objects stand out to the palette measure): a gradient,
// broad stripes, or a gradient with blotches; then thin clutter strokes.
void paint_varied_background(cv::Mat& rgb, Draw& d, double unit) {
  const int S = rgb.rows;
  auto muted = [&] { return hsv_to_rgb(d.uniform(0, 360), d.uniform(0.0, 0.3), d.uniform(0.3, 0.9)); };
  const int kind = d.integer(0, 2);
  const cv::Vec3d c0 = muted(), c1 = muted();
  const double ang = d.uniform(0, 2 * kPi), ca = std::cos(ang), sa = std::sin(ang);
  const double period = unit * d.uniform(6, 16);
  for (int y = 0; y < S; ++y) {
    cv::Vec3b* px = rgb.ptr<cv::Vec3b>(y);
    for (int x = 0; x < S; ++x) {
      const double along = (x - S / 2.0) * ca + (y - S / 2.0) * sa;
      const double t = kind == 1 ? double(int(std::floor(along / period + 100)) & 1) : std::clamp(0.5 + along / S, 0.0, 1.0);
      const cv::Vec3d c = c0 * (1 - t) + c1 * t;
      px[x] = cv::Vec3b(cv::saturate_cast<uint8_t>(c[0]), cv::saturate_cast<uint8_t>(c[1]), cv::saturate_cast<uint8_t>(c[2]));
    }
  }
  const int blotches = kind == 2 ? d.integer(4, 8) : 0;
  for (int k = 0; k < blotches; ++k) {
    const cv::Vec3d c = muted();
    const cv::Point p0(d.integer(0, S - 1), d.integer(0, S - 1));
    const cv::Size axes(std::max(1, int(unit * d.uniform(3, 9))), std::max(1, int(unit * d.uniform(3, 9))));
    cv::ellipse(rgb, p0, axes, d.uniform(0, 180), 0, 360, cv::Scalar(c[0], c[1], c[2]), cv::FILLED, cv::LINE_8);
  }
  const int strokes = d.integer(2, 5);
  for (int k = 0; k < strokes; ++k) {
    const cv::Vec3d c = muted();
    const cv::Point p0(d.integer(0, S - 1), d.integer(0, S - 1)), p1(d.integer(0, S - 1), d.integer(0, S - 1));
    cv::line(rgb, p0, p1, cv::Scalar(c[0], c[1], c[2]), std::max(1, int(std::lround(unit))), cv::LINE_8);
  }
}

// Lighting over the whole image: a brightness ramp in a random direction and a colour cast.
void light(cv::Mat& rgb, Draw& d) {
  const int S = rgb.rows;
  const double gain = d.uniform(0.7, 1.15), slope = d.uniform(0.0, 0.35), ang = d.uniform(0, 2 * kPi);
  const double ca = std::cos(ang), sa = std::sin(ang);
  const cv::Vec3d cast(1 + d.uniform(-0.08, 0.08), 1 + d.uniform(-0.08, 0.08), 1 + d.uniform(-0.08, 0.08));
  for (int y = 0; y < S; ++y) {
    cv::Vec3b* px = rgb.ptr<cv::Vec3b>(y);
    for (int x = 0; x < S; ++x) {
      const double f = std::clamp(gain * (1 + slope * ((x - S / 2.0) * ca + (y - S / 2.0) * sa) / (S / 2.0)), 0.6, 1.4);
      for (int c = 0; c < 3; ++c) px[x][c] = cv::saturate_cast<uint8_t>(px[x][c] * f * cast[c]);
    }
  }
}

std::vector<SyntheticClass> make_varied_classes() {
  std::vector<SyntheticClass> v;
  for (int i = 0; i < kSyntheticClasses; ++i) {
    SyntheticClass c;
    c.id = i + 1;
    c.shape = i;
    c.pattern = -1;
    c.palette = -1;
    c.name = shape_name(i);
    v.push_back(c);
  }
  return v;
}

}  // namespace

namespace detail {

const std::vector<SyntheticClass>& varied_classes() {
  static const std::vector<SyntheticClass> classes = make_varied_classes();
  return classes;
}

void draw_varied(int class_id, SyntheticStream stream, std::uint64_t n, const SyntheticDrawOptions& o, cv::Mat* rgb_out,
                 cv::Mat* mask_out) {
  const int S = o.size;
  const double unit = S / 64.0;
  const std::uint64_t key = o.seed * 0x9E3779B97F4A7C15ULL ^ (std::uint64_t(stream) << 40) ^
                            (std::uint64_t(class_id) << 20) ^ 0xA11EDULL;  // another stream than classic's
  Draw d(key, n);
  cv::Mat rgb(S, S, CV_8UC3);
  paint_varied_background(rgb, d, unit);
  for (const Distractor& x : draw_distractors(d, class_id, kSyntheticClasses, o.distractors, S)) {
    paint_varied_object(rgb, x.class_id, x.pose, d, unit);
  }
  Pose p;
  p.r = S * d.uniform(0.17, 0.3);
  p.c = {d.uniform(0.9 * p.r, S - 0.9 * p.r), d.uniform(0.9 * p.r, S - 0.9 * p.r)};
  p.theta = d.uniform(0, 2 * kPi);
  cv::Mat mask = paint_varied_object(rgb, class_id, p, d, unit);
  light(rgb, d);
  add_pixel_noise(rgb, d);
  if (rgb_out) *rgb_out = rgb;
  if (mask_out) *mask_out = mask;
}

}  // namespace detail
}  // namespace difss::data
