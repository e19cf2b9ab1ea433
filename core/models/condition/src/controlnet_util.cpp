#include <difss/condition/controlnet_util.hpp>

#include <difss/sdk/error.hpp>

#include <opencv2/imgproc.hpp>

#include <cfenv>
#include <cmath>
#include <string>

namespace difss::condition {

namespace {

[[noreturn]] void bad(const std::string& what) { throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, what); }

std::string size_str(cv::Size s) { return std::to_string(s.height) + "x" + std::to_string(s.width); }

// np.round: round half to even. std::nearbyint does that in the default rounding mode; set it
// explicitly so a caller's fesetround cannot change the sizes.
double round_half_even(double x) {
  const int old = std::fegetround();
  std::fesetround(FE_TONEAREST);
  double r = std::nearbyint(x);
  std::fesetround(old);
  return r;
}

}  // namespace

cv::Size resize_image_size(cv::Size in, int resolution) {
  if (in.width <= 0 || in.height <= 0) bad("resize_image: empty image (" + size_str(in) + ")");
  if (resolution <= 0) return in;
  // Same float64 arithmetic as annotator/util.py: H = float(H); k = res / min(H, W); H *= k.
  double h = in.height, w = in.width;
  double k = double(resolution) / std::min(h, w);
  h *= k;
  w *= k;
  double oh = round_half_even(h / 64.0) * 64.0, ow = round_half_even(w / 64.0) * 64.0;
  if (oh < 64 || ow < 64)
    bad("resize_image: resolution " + std::to_string(resolution) + " turns a " + size_str(in) +
        " image into a zero-sized one (each side must round to at least 64)");
  if (oh > kMaxControlSide || ow > kMaxControlSide || oh * ow > double(kMaxControlPixels))
    bad("resize_image: a " + size_str(in) + " image at resolution " + std::to_string(resolution) +
        " would become " + std::to_string(int64_t(oh)) + "x" + std::to_string(int64_t(ow)) +
        ", larger than the limit of " + std::to_string(kMaxControlSide) + " per side / " +
        std::to_string(kMaxControlPixels) + " pixels");
  return cv::Size(int(ow), int(oh));
}

cv::Mat resize_image(const cv::Mat& img, int resolution) {
  if (img.empty()) bad("resize_image: empty image");
  if (resolution <= 0) return img;
  cv::Size out = resize_image_size(img.size(), resolution);
  double k = double(resolution) / std::min(double(img.rows), double(img.cols));
  cv::Mat dst;
  cv::resize(img, dst, out, 0, 0, k > 1 ? cv::INTER_LANCZOS4 : cv::INTER_AREA);
  return dst;
}

cv::Mat resize_nearest(const cv::Mat& m, cv::Size size) {
  if (m.empty()) bad("resize_nearest: empty input");
  if (m.size() == size) return m;
  cv::Mat dst;
  cv::resize(m, dst, size, 0, 0, cv::INTER_NEAREST);
  return dst;
}

cv::Mat hwc3(const cv::Mat& x) {
  if (x.depth() != CV_8U) bad("HWC3: expected a uint8 image");
  switch (x.channels()) {
    case 3: return x;
    case 1: {
      cv::Mat out;
      cv::merge(std::vector<cv::Mat>{x, x, x}, out);
      return out;
    }
    case 4: {
      // y = color * alpha + 255 * (1 - alpha) in float32 (alpha = a / 255), clip, truncate.
      cv::Mat out(x.size(), CV_8UC3);
      for (int r = 0; r < x.rows; ++r) {
        const uint8_t* s = x.ptr<uint8_t>(r);
        uint8_t* d = out.ptr<uint8_t>(r);
        for (int c = 0; c < x.cols; ++c, s += 4, d += 3) {
          float alpha = float(s[3]) / 255.0f;
          for (int k = 0; k < 3; ++k) {
            float y = float(s[k]) * alpha + 255.0f * (1.0f - alpha);
            y = std::min(255.0f, std::max(0.0f, y));
            d[k] = uint8_t(y);
          }
        }
      }
      return out;
    }
    default: bad("HWC3: expected 1, 3 or 4 channels, got " + std::to_string(x.channels()));
  }
}

cv::Mat foreground01(const cv::Mat& mask) {
  if (mask.empty() || mask.type() != CV_8UC1) bad("foreground: expected a uint8 [H, W] mask");
  cv::Mat fg;
  cv::compare(mask, 1, fg, cv::CMP_EQ);  // 0 / 255
  return fg / 255;
}

cv::Mat dilate_fss(const cv::Mat& mask01) {
  static const cv::Mat kernel = cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(14, 14));
  cv::Mat out;
  cv::dilate(mask01, out, kernel);
  return out;
}

cv::Mat mask_filter_fss(const cv::Mat& map, const cv::Mat& mask) {
  if (map.empty() || map.depth() != CV_8U) bad("mask filter: expected a uint8 map");
  cv::Mat fg = foreground01(resize_nearest(mask, map.size()));
  cv::Mat keep = dilate_fss(fg);
  cv::Mat out = cv::Mat::zeros(map.size(), map.type());
  map.copyTo(out, keep);  // map * dilated, with dilated in {0, 1}
  return out;
}

}  // namespace difss::condition
