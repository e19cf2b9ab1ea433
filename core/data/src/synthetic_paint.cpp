// Drawing pieces shared by the `synthetic` worlds; see synthetic_paint.hpp.
#include "synthetic_paint.hpp"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

namespace difss::data::synthetic_paint {

namespace {

const char* const kShapeNames[kShapeCount] = {"circle",   "square",    "triangle", "star",  "cross",
                                              "ellipse",  "rhombus",   "hexagon",  "crescent", "heart",
                                              "arrow",    "ell",       "tee",      "spark", "gear",
                                              "semicircle", "trapezoid", "bowtie", "bar",   "horseshoe"};

void ring(std::vector<cv::Point2d>& out, int n, double rx, double ry, double a0 = 0, double a1 = 2 * kPi,
          cv::Point2d c = {0, 0}, bool closed = true) {
  const int steps = closed ? n : n + 1;  // an open arc includes both ends
  for (int k = 0; k < steps; ++k) {
    const double a = a0 + (a1 - a0) * k / n;
    out.push_back({c.x + rx * std::cos(a), c.y + ry * std::sin(a)});
  }
}

// Shapes 5..19 at radius r (the varied world's).
std::vector<cv::Point2d> varied_local(int shape, double r) {
  std::vector<cv::Point2d> v;
  auto scaled = [&](std::initializer_list<cv::Point2d> pts) {
    for (const auto& q : pts) v.push_back({q.x * r, q.y * r});
  };
  switch (shape) {
    case 5: ring(v, 48, r, 0.5 * r); break;
    case 6: scaled({{0, -1}, {0.5, 0}, {0, 1}, {-0.5, 0}}); break;
    case 7: ring(v, 6, r, r); break;
    case 8: {  // outer circle r minus a circle of radius 0.8 r centred at (0.5 r, 0)
      const double deg = kPi / 180;
      ring(v, 32, r, r, 52 * deg, 308 * deg, {0, 0}, false);
      ring(v, 32, 0.8 * r, 0.8 * r, 278 * deg, 82 * deg, {0.5 * r, 0}, false);
      break;
    }
    case 9:
      for (int k = 0; k < 48; ++k) {
        const double t = 2 * kPi * k / 48, s = std::sin(t);
        v.push_back({r / 17 * 16 * s * s * s,
                     -r / 17 * (13 * std::cos(t) - 5 * std::cos(2 * t) - 2 * std::cos(3 * t) - std::cos(4 * t)) - 0.1 * r});
      }
      break;
    case 10: scaled({{-1, -0.25}, {0.1, -0.25}, {0.1, -0.7}, {1, 0}, {0.1, 0.7}, {0.1, 0.25}, {-1, 0.25}}); break;
    case 11: scaled({{-0.7, -1}, {-0.1, -1}, {-0.1, 0.4}, {0.7, 0.4}, {0.7, 1}, {-0.7, 1}}); break;
    case 12: scaled({{-1, -0.8}, {1, -0.8}, {1, -0.2}, {0.3, -0.2}, {0.3, 1}, {-0.3, 1}, {-0.3, -0.2}, {-1, -0.2}}); break;
    case 13:
      for (int k = 0; k < 8; ++k) {
        const double rr = k % 2 ? 0.35 * r : r, a = 2 * kPi * k / 8;
        v.push_back({rr * std::cos(a), rr * std::sin(a)});
      }
      break;
    case 14:  // eight square teeth
      for (int k = 0; k < 32; ++k) {
        const double rr = (k % 4) < 2 ? r : 0.72 * r, a = 2 * kPi * (k + 0.5) / 32;
        v.push_back({rr * std::cos(a), rr * std::sin(a)});
      }
      break;
    case 15: ring(v, 24, r, r, kPi, 2 * kPi, {0, 0.4 * r}, false); break;
    case 16: scaled({{-0.45, -0.6}, {0.45, -0.6}, {1, 0.6}, {-1, 0.6}}); break;
    case 17: scaled({{-1, -0.7}, {0, -0.15}, {1, -0.7}, {1, 0.7}, {0, 0.15}, {-1, 0.7}}); break;
    case 18: scaled({{-1, -0.3}, {1, -0.3}, {1, 0.3}, {-1, 0.3}}); break;
    default: scaled({{-0.8, -1}, {-0.35, -1}, {-0.35, 0.3}, {0.35, 0.3}, {0.35, -1}, {0.8, -1}, {0.8, 0.8}, {-0.8, 0.8}});
  }
  return v;
}

}  // namespace

const char* shape_name(int shape) { return shape >= 0 && shape < kShapeCount ? kShapeNames[shape] : "?"; }

cv::Vec3d hsv_to_rgb(double h, double s, double v) {  // h in degrees, s, v in [0, 1]; RGB 0..255
  h = std::fmod(std::fmod(h, 360.0) + 360.0, 360.0);
  const double c = v * s, x = c * (1 - std::fabs(std::fmod(h / 60.0, 2.0) - 1)), m = v - c;
  double r = 0, g = 0, b = 0;
  switch (int(h / 60.0)) {
    case 0: r = c, g = x; break;
    case 1: r = x, g = c; break;
    case 2: g = c, b = x; break;
    case 3: g = x, b = c; break;
    case 4: r = x, b = c; break;
    default: r = c, b = x; break;
  }
  return {(r + m) * 255, (g + m) * 255, (b + m) * 255};
}

std::vector<cv::Point> outline(int shape, const Pose& p) {
  std::vector<cv::Point2d> local;
  const double r = p.r;
  switch (shape) {
    case 0:
      for (int k = 0; k < 48; ++k) local.push_back({r * std::cos(2 * kPi * k / 48), r * std::sin(2 * kPi * k / 48)});
      break;
    case 1: {
      const double h = 0.8 * r;
      local = {{-h, -h}, {h, -h}, {h, h}, {-h, h}};
      break;
    }
    case 2:
      for (int k = 0; k < 3; ++k) local.push_back({r * std::cos(2 * kPi * k / 3 - kPi / 2), r * std::sin(2 * kPi * k / 3 - kPi / 2)});
      break;
    case 3:
      for (int k = 0; k < 10; ++k) {
        const double rr = k % 2 ? 0.45 * r : r, a = 2 * kPi * k / 10 - kPi / 2;
        local.push_back({rr * std::cos(a), rr * std::sin(a)});
      }
      break;
    case 4: {
      const double a = 0.3 * r, b = r;  // a plus sign: arms of half-width a, reach b
      local = {{-a, -b}, {a, -b}, {a, -a}, {b, -a}, {b, a}, {a, a}, {a, b}, {-a, b}, {-a, a}, {-b, a}, {-b, -a}, {-a, -a}};
      break;
    }
    default: local = varied_local(shape, r);
  }
  const double cs = std::cos(p.theta), sn = std::sin(p.theta);
  std::vector<cv::Point> out;
  for (const auto& q : local) {
    const double x = p.c.x + cs * q.x - sn * q.y, y = p.c.y + sn * q.x + cs * q.y;
    out.emplace_back(int(std::lround(x * (1 << kShift))), int(std::lround(y * (1 << kShift))));
  }
  return out;
}

double pattern_mix(Pattern pattern, double u, double v, double radius, double period, double ph_u, double ph_v,
                   double dot_r) {
  switch (pattern) {
    case Pattern::striped: return double(int(std::floor((u + ph_u) / (period / 2))) & 1);
    case Pattern::checkered:
      return double((int(std::floor((u + ph_u) / (period / 2))) + int(std::floor((v + ph_v) / (period / 2)))) & 1);
    case Pattern::dotted: {
      const double fu = std::fmod(u + ph_u + 100 * period, period) - period / 2;
      const double fv = std::fmod(v + ph_v + 100 * period, period) - period / 2;
      return fu * fu + fv * fv < dot_r * dot_r ? 0.0 : 1.0;
    }
    case Pattern::gradient: return std::clamp((u / radius + 1) / 2, 0.0, 1.0);
    case Pattern::plain: break;
  }
  return 0.0;
}

DistractorDraws::DistractorDraws(Draw& d, int class_id, int classes, int distractors, int size)
    : d_(d), class_id_(class_id), classes_(classes), size_(size) {
  const int nd = std::clamp(distractors, 0, 4);
  count_ = nd == 0 ? 0 : d_.integer(nd - 1, nd);
}

Distractor DistractorDraws::next() {
  Distractor x;
  x.class_id = d_.integer(1, classes_ - 1);
  if (x.class_id >= class_id_) ++x.class_id;  // any class but the target's
  x.pose.r = size_ * d_.uniform(0.11, 0.2);
  x.pose.c = {d_.uniform(0, size_), d_.uniform(0, size_)};
  x.pose.theta = d_.uniform(0, 2 * kPi);
  return x;
}

cv::Mat shape_raster(int size, int shape, const Pose& p) {
  cv::Mat obj = cv::Mat::zeros(size, size, CV_8UC1);
  cv::fillPoly(obj, std::vector<std::vector<cv::Point>>{outline(shape, p)}, cv::Scalar(1), cv::LINE_8, kShift);
  return obj;
}

void paint_texture(cv::Mat& rgb, const cv::Mat& obj, const Pose& p, const Texture& t) {
  const double cs = std::cos(p.theta), sn = std::sin(p.theta);
  for (int y = 0; y < rgb.rows; ++y) {
    const uint8_t* m = obj.ptr<uint8_t>(y);
    cv::Vec3b* px = rgb.ptr<cv::Vec3b>(y);
    for (int x = 0; x < rgb.cols; ++x) {
      if (!m[x]) continue;
      const double dx = x - p.c.x, dy = y - p.c.y;
      const double u = cs * dx + sn * dy, v = -sn * dx + cs * dy;  // object-local coordinates
      const double mix = pattern_mix(t.pattern, u, v, p.r, t.period, t.ph_u, t.ph_v, t.dot_r);  // 0 -> a, 1 -> b
      const cv::Vec3d c = t.a * (1 - mix) + t.b * mix;
      px[x] = cv::Vec3b(cv::saturate_cast<uint8_t>(c[0]), cv::saturate_cast<uint8_t>(c[1]), cv::saturate_cast<uint8_t>(c[2]));
    }
  }
}

void add_pixel_noise(cv::Mat& rgb, Draw& d) {
  for (int y = 0; y < rgb.rows; ++y) {
    cv::Vec3b* px = rgb.ptr<cv::Vec3b>(y);
    for (int x = 0; x < rgb.cols; ++x)
      for (int c = 0; c < 3; ++c) px[x][c] = cv::saturate_cast<uint8_t>(int(px[x][c]) + d.integer(-6, 6));
  }
}

}  // namespace difss::data::synthetic_paint
