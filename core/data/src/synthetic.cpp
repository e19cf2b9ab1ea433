// `synthetic`: 20 procedural object families (5 shapes x 4 patterns, fixed palettes) on cluttered
// backgrounds with distractors, exact masks, PASCAL-5i-like folds; no files. Deterministic from
// (seed, split stream, class, image number). See difss/data/synthetic.hpp.
#include "difss/data/synthetic.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

#include "dataset_common.hpp"
#include "synthetic_paint.hpp"

namespace difss::data {

using namespace synthetic_paint;

namespace {

const char* const kShapeNames[] = {"circle", "square", "triangle", "star", "cross"};
const char* const kPatternNames[] = {"striped", "checkered", "dotted", "gradient"};

std::vector<SyntheticClass> make_classes() {
  std::vector<SyntheticClass> v;
  for (int fold = 0; fold < kSyntheticFolds; ++fold)
    for (int j = 0; j < 5; ++j) {
      SyntheticClass c;
      c.id = 5 * fold + j + 1;
      c.shape = j;
      c.pattern = (fold + j) % 4;  // every fold has all shapes; every (shape, pattern) once
      const int i = c.id - 1;
      c.palette = i < 10 ? i : (i + 3) % 10;  // classes sharing a palette differ in shape and pattern
      c.name = std::string(kPatternNames[c.pattern]) + "-" + kShapeNames[c.shape];
      v.push_back(c);
    }
  return v;
}

// Paints one object of class `cls` with pose `p` into `rgb`; returns its 0/1 raster.
cv::Mat paint_object(cv::Mat& rgb, const SyntheticClass& cls, const Pose& p, Draw& d, double unit) {
  const cv::Mat obj = shape_raster(rgb.rows, cls.shape, p);
  // The family's palette with a small per-instance jitter.
  const double hue = 36.0 * cls.palette + d.uniform(-8, 8);
  const cv::Vec3d a = hsv_to_rgb(hue, 0.85 + d.uniform(-0.1, 0.1), 0.95 + d.uniform(-0.1, 0.05));
  const cv::Vec3d b = hsv_to_rgb(hue + 35, 0.7 + d.uniform(-0.1, 0.1), 0.4 + d.uniform(-0.08, 0.08));
  const double period = unit * (7.0 + d.uniform(-1.0, 1.0));  // stripes/checker/dot spacing
  const double ph_u = d.uniform(0, period), ph_v = d.uniform(0, period);
  const double dot_r = period * 0.3;
  paint_texture(rgb, obj, p, {Pattern(cls.pattern), a, b, period, ph_u, ph_v, dot_r});
  return obj;
}

void paint_background(cv::Mat& rgb, Draw& d, double unit) {
  const int S = rgb.rows;
  const cv::Vec3d c0 = hsv_to_rgb(d.uniform(0, 360), d.uniform(0.05, 0.35), d.uniform(0.35, 0.85));
  const cv::Vec3d c1 = hsv_to_rgb(d.uniform(0, 360), d.uniform(0.05, 0.35), d.uniform(0.35, 0.85));
  const double ang = d.uniform(0, 2 * kPi), ca = std::cos(ang), sa = std::sin(ang);
  for (int y = 0; y < S; ++y) {
    cv::Vec3b* px = rgb.ptr<cv::Vec3b>(y);
    for (int x = 0; x < S; ++x) {
      const double t = std::clamp(0.5 + ((x - S / 2.0) * ca + (y - S / 2.0) * sa) / S, 0.0, 1.0);
      const cv::Vec3d c = c0 * (1 - t) + c1 * t;
      px[x] = cv::Vec3b(cv::saturate_cast<uint8_t>(c[0]), cv::saturate_cast<uint8_t>(c[1]), cv::saturate_cast<uint8_t>(c[2]));
    }
  }
  const int strokes = d.integer(3, 6);
  for (int k = 0; k < strokes; ++k) {  // clutter: thin muted strokes and blobs
    const cv::Vec3d c = hsv_to_rgb(d.uniform(0, 360), d.uniform(0.0, 0.3), d.uniform(0.2, 0.9));
    const cv::Point p0(d.integer(0, S - 1), d.integer(0, S - 1)), p1(d.integer(0, S - 1), d.integer(0, S - 1));
    if (k % 3 == 2)
      cv::ellipse(rgb, p0, cv::Size(std::max(1, int(unit * d.uniform(1.5, 4))), std::max(1, int(unit * d.uniform(1.5, 4)))),
                  d.uniform(0, 180), 0, 360, cv::Scalar(c[0], c[1], c[2]), cv::FILLED, cv::LINE_8);
    else
      cv::line(rgb, p0, p1, cv::Scalar(c[0], c[1], c[2]), std::max(1, int(std::lround(unit))), cv::LINE_8);
  }
}

}  // namespace

const std::vector<SyntheticClass>& synthetic_classes() {
  static const std::vector<SyntheticClass> classes = make_classes();
  return classes;
}

const std::vector<SyntheticClass>& synthetic_classes(SyntheticWorld world) {
  return world == SyntheticWorld::varied ? detail::varied_classes() : synthetic_classes();
}

SyntheticWorld synthetic_world(const std::string& name) {
  if (name == "classic") return SyntheticWorld::classic;
  if (name == "varied") return SyntheticWorld::varied;
  throw std::invalid_argument("synthetic: world '" + name + "' is not one of classic, varied");
}

const char* synthetic_world_name(SyntheticWorld world) { return world == SyntheticWorld::varied ? "varied" : "classic"; }

std::vector<int> synthetic_split_classes(const std::string& split, int fold) {
  if (fold < 0 || fold >= kSyntheticFolds)
    throw std::invalid_argument("synthetic: fold " + std::to_string(fold) + " out of range 0..3");
  std::vector<int> ids;
  for (int c = 1; c <= kSyntheticClasses; ++c) {
    const bool novel = (c - 1) / 5 == fold;
    if (split == "all" || ((split == "val" || split == "test") && novel) || (split == "trn" && !novel)) ids.push_back(c);
  }
  if (ids.empty())
    throw std::invalid_argument("synthetic: unknown split '" + split + "' (trn = base classes of the fold, "
                                "val/test = its novel classes, all = every class)");
  return ids;
}

SyntheticStream synthetic_stream(const std::string& split) {
  return split == "trn" || split == "all" ? SyntheticStream::training : SyntheticStream::evaluation;
}

void draw_synthetic(int class_id, SyntheticStream stream, std::uint64_t n, const SyntheticDrawOptions& o,
                    cv::Mat* rgb_out, cv::Mat* mask_out) {
  if (class_id < 1 || class_id > kSyntheticClasses)
    throw std::invalid_argument("synthetic: class " + std::to_string(class_id) + " out of range 1..20");
  if (o.size < 16 || o.size > 1024) throw std::invalid_argument("synthetic: size must be 16..1024");
  if (o.world == SyntheticWorld::varied) return detail::draw_varied(class_id, stream, n, o, rgb_out, mask_out);
  const auto& classes = synthetic_classes();
  const int S = o.size;
  const double unit = S / 64.0;  // the families are designed at 64 px
  const std::uint64_t key =
      o.seed * 0x9E3779B97F4A7C15ULL ^ (std::uint64_t(stream) << 40) ^ (std::uint64_t(class_id) << 20) ^ 0x5EEDULL;
  Draw d(key, n);
  cv::Mat rgb(S, S, CV_8UC3);
  paint_background(rgb, d, unit);
  for (const Distractor& x : draw_distractors(d, class_id, kSyntheticClasses, o.distractors, S)) {
    paint_object(rgb, classes[size_t(x.class_id - 1)], x.pose, d, unit);
  }
  Pose p;
  p.r = S * d.uniform(0.17, 0.3);
  p.c = {d.uniform(0.9 * p.r, S - 0.9 * p.r), d.uniform(0.9 * p.r, S - 0.9 * p.r)};
  p.theta = d.uniform(0, 2 * kPi);
  cv::Mat mask = paint_object(rgb, classes[size_t(class_id - 1)], p, d, unit);
  // Pixel noise over everything (the mask is unaffected).
  add_pixel_noise(rgb, d);
  if (rgb_out) *rgb_out = rgb;
  if (mask_out) *mask_out = mask;
}

cv::Mat synthetic_palette_mask(const cv::Mat& rgb, int class_id) {
  if (rgb.type() != CV_8UC3) throw std::invalid_argument("synthetic_palette_mask: expected uint8 RGB");
  if (class_id < 0 || class_id > kSyntheticClasses)
    throw std::invalid_argument("synthetic_palette_mask: class " + std::to_string(class_id) + " out of range 0..20");
  cv::Mat hsv;
  cv::cvtColor(rgb, hsv, cv::COLOR_RGB2HSV_FULL);  // H 0..255 for 0..360 degrees
  const double lo = class_id ? 36.0 * synthetic_classes()[size_t(class_id - 1)].palette - 20 : 0;
  const double span = class_id ? 35.0 + 40 : 360;
  cv::Mat out = cv::Mat::zeros(rgb.size(), CV_8UC1);
  for (int y = 0; y < rgb.rows; ++y) {
    const cv::Vec3b* p = hsv.ptr<cv::Vec3b>(y);
    uint8_t* o = out.ptr<uint8_t>(y);
    for (int x = 0; x < rgb.cols; ++x) {
      if (p[x][1] <= 0.45 * 255 || p[x][2] <= 0.25 * 255) continue;
      const double h = p[x][0] * 360.0 / 256.0;
      const double d = std::fmod(h - lo + 720.0, 360.0);
      o[x] = d <= span ? 1 : 0;
    }
  }
  return out;
}

namespace detail {

std::string synthetic_layout() {
  return R"(  no files. 20 classes = 5 shapes (circle, square, triangle, star, cross) x 4 patterns
  (striped, checkered, dotted, gradient), names like "striped-circle", ids 1..20, class_set
  "synthetic". Folds like PASCAL-5i: fold k (0..3) novel classes = 5k+1..5k+5; split "trn" = the 15
  base classes, "val"/"test" = the 5 novel ones, "all" = all 20. Training splits (trn, all) and
  evaluation splits (val, test) draw disjoint images. options: classes = use only the first N
  classes of the split, images_per_class (default 20), size = image side 16..1024 (default 64),
  seed (default 0), distractors = 0..4 objects of other classes per image (default 2),
  query_order = shuffle (default) | sequential (class by class; configs/demo.toml pins it),
  world = classic (default: the above) | varied (20 shape families circle, square, triangle, star,
  cross, ellipse, rhombus, hexagon, crescent, heart, arrow, ell, tee, spark, gear, semicircle,
  trapezoid, bowtie, bar, horseshoe; each instance in one of its class's 3 appearance modes
  (hue + texture) with lighting and background variety). Sample names "synthetic/<class>_<n>"
  (training splits: "synthetic-trn/<class>_<n>"; varied: "synthetic-varied[-trn]/...").)";
}

namespace {

class Synthetic final : public Dataset {
 public:
  explicit Synthetic(const DatasetConfig& cfg) : Dataset(cfg) {
    check_options(cfg, {"classes", "images_per_class", "size", "seed", "distractors", "query_order", "world"});
    std::vector<int> ids;
    try {
      ids = synthetic_split_classes(cfg.split, cfg.fold);
    } catch (const std::invalid_argument& e) {
      layout_error("synthetic", e.what(), synthetic_layout());
    }
    const int nclasses = static_cast<int>(option_int(cfg, "classes", long(ids.size()), 1, long(ids.size())));
    ids.resize(size_t(nclasses));
    per_class_ = static_cast<int>(option_int(cfg, "images_per_class", 20, 2, 1000000));
    draw_.size = static_cast<int>(option_int(cfg, "size", 64, 16, 1024));
    draw_.seed = static_cast<std::uint64_t>(option_int(cfg, "seed", 0, 0, (1LL << 62)));
    draw_.distractors = static_cast<int>(option_int(cfg, "distractors", 2, 0, 4));
    if (auto w = cfg.options.find("world"); w != cfg.options.end()) {
      try {
        draw_.world = synthetic_world(w->second);
      } catch (const std::invalid_argument& e) {
        layout_error("synthetic", std::string("options.world: ") + e.what(), synthetic_layout());
      }
    }
    stream_ = synthetic_stream(cfg.split);
    const std::string base = draw_.world == SyntheticWorld::varied ? "synthetic-varied" : "synthetic";
    const std::string prefix = base + (stream_ == SyntheticStream::training ? "-trn/" : "/");
    class_set_ = "synthetic";
    for (int id : ids) {
      const SyntheticClass& c = synthetic_classes(draw_.world)[size_t(id - 1)];
      classes_.push_back({id, c.name, c.name});
      for (int n = 0; n < per_class_; ++n) samples_.push_back({{}, {}, prefix + c.name + "_" + std::to_string(n), id, {}});
    }
    split_source_ = "synthetic fold " + std::to_string(cfg.fold) + " " + cfg.split;
    protocol_ = query_order_option(cfg, EpisodeProtocol::shuffled);
    offers_query_order_ = true;
    finish();
  }

  std::string layout() const override { return synthetic_layout(); }
  std::string coverage_advice() const override {
    if (protocol_ != EpisodeProtocol::sequential) return Dataset::coverage_advice();
    return Dataset::coverage_advice() + ", or lower options.images_per_class (queries go class by class, " +
           std::to_string(per_class_) + " per class)";
  }

 protected:
  cv::Mat read_image(const Sample& s) const override {
    cv::Mat rgb;
    draw_synthetic(s.class_id, stream_, number(s), draw_, &rgb, nullptr);
    return rgb;
  }
  cv::Size read_image_size(const Sample&) const override { return {draw_.size, draw_.size}; }
  cv::Size read_mask_size(const Sample&) const override { return {draw_.size, draw_.size}; }
  cv::Mat read_mask(const Sample& s, int class_id, cv::Size) const override {
    cv::Mat m;
    draw_synthetic(s.class_id, stream_, number(s), draw_, nullptr, &m);
    if (class_id != s.class_id) m.setTo(0);
    return m;
  }

 private:
  static std::uint64_t number(const Sample& s) { return std::stoull(s.name.substr(s.name.rfind('_') + 1)); }

  int per_class_ = 20;
  SyntheticDrawOptions draw_;
  SyntheticStream stream_ = SyntheticStream::evaluation;
};

}  // namespace

std::unique_ptr<Dataset> open_synthetic(const DatasetConfig& cfg) { return std::make_unique<Synthetic>(cfg); }

}  // namespace detail
}  // namespace difss::data
