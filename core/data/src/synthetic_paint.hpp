// Drawing pieces shared by the `synthetic` worlds (synthetic.cpp: the classic 5 shapes x 4
// patterns; synthetic_varied.cpp: 20 shape families of varied appearance): the SplitMix64 draw,
// HSV colours, poses, shape outlines and texture patterns.
#pragma once

#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

#include "difss/data/episodes.hpp"

namespace difss::data::synthetic_paint {

constexpr double kPi = 3.14159265358979323846;

// Uniform doubles/ints from the dataset's documented SplitMix64 stream.
class Draw {
 public:
  Draw(std::uint64_t seed, std::uint64_t n) : rng_(seed, n) {}
  double uniform(double lo, double hi) { return lo + (hi - lo) * double(rng_.next() >> 11) * 0x1.0p-53; }
  int integer(int lo, int hi) { return lo + int(rng_.below(std::uint64_t(hi - lo + 1))); }  // [lo, hi]

 private:
  EpisodeRng rng_;
};

cv::Vec3d hsv_to_rgb(double h, double s, double v);  // h in degrees, s, v in [0, 1]; RGB 0..255

struct Pose {
  cv::Point2d c;
  double r = 10, theta = 0;
};

// Shape families: 0..4 are the classic world's (circle, square, triangle, star, cross), 5..19
// only the varied world's. None is the rotation of another.
inline constexpr int kShapeCount = 20;
const char* shape_name(int shape);

// The shape's outline in image coordinates (fixed-point, shift kShift), for cv::fillPoly.
constexpr int kShift = 4;
std::vector<cv::Point> outline(int shape, const Pose& p);

// Distractors: objects of other classes than `class_id` (1..classes), at most `distractors`
// (0..4) of them, with random pose on a size x size canvas. Drawn lazily, one at a time, so that
// each one's painting (which draws colours from `d` too) comes between them, as it always has.
struct Distractor {
  int class_id = 0;
  Pose pose;
};
class DistractorDraws {
 public:
  DistractorDraws(Draw& d, int class_id, int classes, int distractors, int size);
  struct Iter {
    DistractorDraws* owner;
    int k;
    Distractor operator*() const { return owner->next(); }
    Iter& operator++() { ++k; return *this; }
    bool operator!=(const Iter& o) const { return k != o.k; }
  };
  Iter begin() { return {this, 0}; }
  Iter end() { return {this, count_}; }
  Distractor next();

 private:
  Draw& d_;
  int class_id_, classes_, size_, count_ = 0;
};
inline DistractorDraws draw_distractors(Draw& d, int class_id, int classes, int distractors, int size) {
  return DistractorDraws(d, class_id, classes, distractors, size);
}

// Texture patterns; the classic world uses striped..gradient by these numbers.
enum class Pattern { striped = 0, checkered = 1, dotted = 2, gradient = 3, plain = 4 };
// Mix between an object's two colours (0 -> first, 1 -> second) at object-local (u, v).
double pattern_mix(Pattern pattern, double u, double v, double radius, double period, double ph_u, double ph_v,
                   double dot_r);

// The shape's 0/1 raster on a size x size canvas.
cv::Mat shape_raster(int size, int shape, const Pose& p);

// An object's two colours and how they alternate (pattern_mix's arguments).
struct Texture {
  Pattern pattern = Pattern::plain;
  cv::Vec3d a, b;  // RGB 0..255
  double period = 7, ph_u = 0, ph_v = 0, dot_r = 2;
};
// Paints `texture` into the pixels of `rgb` where `obj` is 1, in the object's own coordinates.
void paint_texture(cv::Mat& rgb, const cv::Mat& obj, const Pose& p, const Texture& texture);

// Pixel noise of +-6 per channel over the whole image (the mask is unaffected).
void add_pixel_noise(cv::Mat& rgb, Draw& d);

}  // namespace difss::data::synthetic_paint

namespace difss::data {
struct SyntheticClass;
struct SyntheticDrawOptions;
enum class SyntheticStream : std::uint64_t;
namespace detail {
// The varied world (synthetic_varied.cpp), reached through synthetic_classes / draw_synthetic.
const std::vector<SyntheticClass>& varied_classes();
void draw_varied(int class_id, SyntheticStream stream, std::uint64_t n, const SyntheticDrawOptions& o, cv::Mat* rgb,
                 cv::Mat* mask);
}  // namespace detail
}  // namespace difss::data
