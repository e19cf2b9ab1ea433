// Image/mask reading with the benchmark conventions; see image_io.hpp.
#include "difss/data/image_io.hpp"

#include <png.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "difss/data/atomic_file.hpp"
#include "png_codec.hpp"

namespace difss::data {
namespace {

std::string sz(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

// JPEG: walk the marker segments up to the first SOFn.
bool jpeg_size(std::ifstream& in, cv::Size& out) {
  auto get = [&in]() -> int {
    const int c = in.get();
    return in ? c : -1;
  };
  for (;;) {
    int c = get();
    if (c < 0) return false;
    if (c != 0xFF) continue;  // tolerate garbage between segments
    int m = get();
    while (m == 0xFF) m = get();
    if (m < 0) return false;
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;  // no payload
    if (m == 0xD9 || m == 0xDA) return false;  // end of image / scan before any frame header
    const int hi = get(), lo = get();
    if (hi < 0 || lo < 0) return false;
    const int len = (hi << 8) | lo;
    if (len < 2) return false;
    const bool sof = (m >= 0xC0 && m <= 0xCF) && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof) {
      unsigned char b[5];
      if (!in.read(reinterpret_cast<char*>(b), 5)) return false;
      out = cv::Size((b[3] << 8) | b[4], (b[1] << 8) | b[2]);
      return true;
    }
    in.seekg(len - 2, std::ios::cur);
    if (!in) return false;
  }
}

void check_pixels(const std::filesystem::path& path, cv::Size s) {
  if (s.width <= 0 || s.height <= 0)
    throw std::runtime_error("image '" + path.string() + "' has an invalid size " + sz(s.width, s.height));
  if (static_cast<std::int64_t>(s.width) * s.height > kMaxImagePixels)
    throw std::runtime_error("image '" + path.string() + "' is " + sz(s.width, s.height) +
                             ", larger than the " + std::to_string(kMaxImagePixels) + "-pixel limit");
}

// A CV_8UC1 value map from a decoded PNG: palette indices / grey values; colour -> PIL "L".
cv::Mat to_single_channel(const detail::RawPng& raw, bool allow_colour, const std::filesystem::path& path) {
  const int n = raw.width * raw.height;
  cv::Mat out(raw.height, raw.width, CV_8UC1);
  std::uint8_t* dst = out.ptr<std::uint8_t>();
  const int ch = raw.channels;
  const bool colour = raw.color_type == PNG_COLOR_TYPE_RGB || raw.color_type == PNG_COLOR_TYPE_RGB_ALPHA;
  if (colour && !allow_colour)
    throw std::runtime_error("label map '" + path.string() +
                             "' is a colour PNG; expected a palette or greyscale PNG holding class indices");
  if (!raw.sixteen) {
    const std::uint8_t* src = raw.pixels.data();
    if (!colour) {
      for (int i = 0; i < n; ++i) dst[i] = src[i * ch];  // drops a grey image's alpha
    } else {
      for (int i = 0; i < n; ++i) {
        const std::uint8_t* p = src + i * ch;
        // PIL's convert("L"): ITU-R 601-2 luma in 16-bit fixed point.
        dst[i] = static_cast<std::uint8_t>((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
      }
    }
    return out;
  }
  std::vector<std::uint16_t> v(static_cast<std::size_t>(n));
  const auto* src = reinterpret_cast<const std::uint16_t*>(raw.pixels.data());
  std::uint16_t maxv = 0;
  for (int i = 0; i < n; ++i) {
    const std::uint16_t* p = src + i * ch;
    v[i] = colour ? static_cast<std::uint16_t>((p[0] * 19595ull + p[1] * 38470ull + p[2] * 7471ull + 0x8000ull) >> 16)
                  : p[0];
    maxv = std::max(maxv, v[i]);
  }
  // 16-bit maps that only hold small values (class indices) keep them; others are scaled.
  const int shift = maxv <= 255 ? 0 : 8;
  for (int i = 0; i < n; ++i) dst[i] = static_cast<std::uint8_t>(v[i] >> shift);
  return out;
}

}  // namespace

cv::Size read_image_size(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open image '" + path.string() + "'");
  unsigned char head[24] = {0};
  in.read(reinterpret_cast<char*>(head), 24);
  const auto got = in.gcount();
  if (got >= 24 && png_sig_cmp(head, 0, 8) == 0 && std::memcmp(head + 12, "IHDR", 4) == 0) {
    const cv::Size s(static_cast<int>(be32(head + 16)), static_cast<int>(be32(head + 20)));
    return s;
  }
  if (got >= 2 && head[0] == 0xFF && head[1] == 0xD8) {
    in.clear();
    in.seekg(2);
    cv::Size s;
    if (!jpeg_size(in, s))
      throw std::runtime_error("cannot read the size of JPEG '" + path.string() + "' (truncated or corrupt)");
    return s;
  }
  const cv::Mat m = cv::imread(path.string(), cv::IMREAD_UNCHANGED | cv::IMREAD_IGNORE_ORIENTATION);
  if (m.empty()) throw std::runtime_error("cannot decode image '" + path.string() + "'");
  return m.size();
}

namespace {

void require_file(const std::filesystem::path& path, const std::string& what) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw std::runtime_error(what + " '" + path.string() + "' does not exist or is not a file");
}

// cv::imread after the header's size check; errors name the path.
cv::Mat imread_checked(const std::filesystem::path& path, int flags, const std::string& what) {
  check_pixels(path, read_image_size(path));
  cv::Mat m;
  try {
    m = cv::imread(path.string(), flags | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const cv::Exception& e) {
    throw std::runtime_error("cannot decode " + what + " '" + path.string() + "': " + e.what());
  }
  if (m.empty()) throw std::runtime_error("cannot decode " + what + " '" + path.string() + "' (corrupt or unsupported)");
  return m;
}

}  // namespace

cv::Mat read_image_rgb(const std::filesystem::path& path) {
  require_file(path, "image");
  const cv::Mat bgr = imread_checked(path, cv::IMREAD_COLOR, "image");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

cv::Mat read_label_png(const std::filesystem::path& path) {
  return to_single_channel(detail::read_png(path), /*allow_colour=*/false, path);
}

namespace {

bool is_png_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[8] = {0};
  in.read(reinterpret_cast<char*>(head), 8);
  return in.gcount() == 8 && png_sig_cmp(head, 0, 8) == 0;
}

// PIL's convert("L") of OpenCV's BGR(A) pixels: ITU-R 601-2 luma in 16-bit fixed point.
template <typename T>
std::uint32_t bgr_luma(const T* p) {
  return static_cast<std::uint32_t>((p[2] * 19595ull + p[1] * 38470ull + p[0] * 7471ull + 0x8000ull) >> 16);
}

template <typename T>
cv::Mat opencv_values(const cv::Mat& m) {
  const int ch = m.channels();
  std::vector<std::uint32_t> v(m.total());
  std::uint32_t maxv = 0;
  std::size_t k = 0;
  for (int y = 0; y < m.rows; ++y) {
    const T* row = m.ptr<T>(y);
    for (int x = 0; x < m.cols; ++x, ++k) {
      const T* p = row + x * ch;
      v[k] = ch >= 3 ? bgr_luma(p) : static_cast<std::uint32_t>(p[0]);
      maxv = std::max(maxv, v[k]);
    }
  }
  const int shift = maxv <= 255 ? 0 : 8;  // as 16-bit PNGs: small values are class indices
  cv::Mat out(m.size(), CV_8UC1);
  std::uint8_t* dst = out.ptr<std::uint8_t>();
  for (std::size_t i = 0; i < v.size(); ++i) dst[i] = static_cast<std::uint8_t>(v[i] >> shift);
  return out;
}

}  // namespace

MaskValues read_mask_values(const std::filesystem::path& path) {
  require_file(path, "mask");
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".png" || is_png_file(path)) {  // a broken .png gets libpng's precise error
    const detail::RawPng raw = detail::read_png(path);
    return {to_single_channel(raw, /*allow_colour=*/true, path), raw.color_type == PNG_COLOR_TYPE_PALETTE};
  }
  const cv::Mat m = imread_checked(path, cv::IMREAD_UNCHANGED, "mask");
  if (m.depth() == CV_8U) return {opencv_values<std::uint8_t>(m), false};
  if (m.depth() == CV_16U) return {opencv_values<std::uint16_t>(m), false};
  throw std::runtime_error("mask '" + path.string() + "' has samples that are not 8- or 16-bit integers");
}

cv::Mat read_binary_mask(const std::filesystem::path& path) { return binarize_mask(read_mask_values(path)); }

cv::Mat binarize_mask(const MaskValues& mv) {
  cv::Mat v = mv.values.clone();
  std::uint8_t* p = v.ptr<std::uint8_t>();
  const std::size_t n = v.total();
  if (mv.palette) {
    for (std::size_t i = 0; i < n; ++i) p[i] = p[i] == 0 ? 0 : (p[i] == 255 ? 255 : 1);
    return v;
  }
  const std::uint8_t maxv = n ? *std::max_element(p, p + n) : 0;
  if (maxv <= 1) return v;  // already 0/1
  for (std::size_t i = 0; i < n; ++i) p[i] = p[i] >= 128 ? 1 : 0;
  return v;
}

const std::vector<std::array<std::uint8_t, 3>>& voc_palette() {
  static const std::vector<std::array<std::uint8_t, 3>> pal = [] {
    std::vector<std::array<std::uint8_t, 3>> p(256);
    for (int i = 0; i < 256; ++i) {
      int c = i;
      std::uint8_t r = 0, g = 0, b = 0;
      for (int j = 0; j < 8; ++j) {
        r |= static_cast<std::uint8_t>(((c >> 0) & 1) << (7 - j));
        g |= static_cast<std::uint8_t>(((c >> 1) & 1) << (7 - j));
        b |= static_cast<std::uint8_t>(((c >> 2) & 1) << (7 - j));
        c >>= 3;
      }
      p[i] = {r, g, b};
    }
    return p;
  }();
  return pal;
}

void write_label_png(const std::filesystem::path& path, const cv::Mat& labels,
                     const std::vector<std::array<std::uint8_t, 3>>& palette) {
  if (labels.type() != CV_8UC1 || labels.empty())
    throw std::invalid_argument("write_label_png('" + path.string() + "'): expected a non-empty CV_8UC1 label map");
  std::vector<std::uint8_t> flat;
  flat.reserve(palette.size() * 3);
  for (const auto& c : palette) flat.insert(flat.end(), c.begin(), c.end());
  const auto bytes = detail::encode_palette_png(labels.cols, labels.rows, labels.ptr<std::uint8_t>(),
                                                labels.step[0], flat);
  write_file_atomic(path, bytes);
}

cv::Mat resize_nearest(const cv::Mat& src, cv::Size size) {
  if (src.empty()) throw std::invalid_argument("resize_nearest: empty input");
  if (size.width <= 0 || size.height <= 0)
    throw std::invalid_argument("resize_nearest: invalid target size " + sz(size.width, size.height));
  // PyTorch (1.13) upsample_nearest: scale = float(in) / out; src = min(floor(dst * scale), in - 1).
  auto index = [](int in, int out) {
    std::vector<int> idx(static_cast<std::size_t>(out));
    const float scale = static_cast<float>(in) / static_cast<float>(out);
    for (int d = 0; d < out; ++d) {
      const float f = std::floor(static_cast<float>(d) * scale);
      idx[d] = std::min(static_cast<int>(f), in - 1);
    }
    return idx;
  };
  const std::vector<int> ys = index(src.rows, size.height);
  const std::vector<int> xs = index(src.cols, size.width);
  cv::Mat dst(size, src.type());
  const std::size_t es = src.elemSize();
  for (int y = 0; y < size.height; ++y) {
    const std::uint8_t* s = src.ptr<std::uint8_t>(ys[y]);
    std::uint8_t* d = dst.ptr<std::uint8_t>(y);
    for (int x = 0; x < size.width; ++x) std::memcpy(d + x * es, s + xs[x] * es, es);
  }
  return dst;
}

cv::Mat class_mask(const cv::Mat& labels, int class_value, bool keep_ignore) {
  if (labels.type() != CV_8UC1) throw std::invalid_argument("class_mask: expected a CV_8UC1 label map");
  cv::Mat out(labels.size(), CV_8UC1);
  for (int y = 0; y < labels.rows; ++y) {
    const std::uint8_t* s = labels.ptr<std::uint8_t>(y);
    std::uint8_t* d = out.ptr<std::uint8_t>(y);
    for (int x = 0; x < labels.cols; ++x)
      d[x] = s[x] == class_value ? 1 : ((keep_ignore && s[x] == 255) ? 255 : 0);
  }
  return out;
}

}  // namespace difss::data
