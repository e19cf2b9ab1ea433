// Helpers for difss_data tests: temporary folders and tiny synthetic datasets.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "difss/data/image_io.hpp"

namespace difss::test {

// A fresh folder under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "difss-data-test-XXXXXX").string();
    if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// A label map filled in raster order with runs of (value, count); the rest is 0.
inline cv::Mat label_runs(int w, int h, const std::vector<std::pair<int, int>>& runs) {
  cv::Mat m = cv::Mat::zeros(h, w, CV_8UC1);
  auto* p = m.ptr<std::uint8_t>();
  std::size_t at = 0;
  for (const auto& [v, n] : runs)
    for (int k = 0; k < n; ++k) {
      if (at >= m.total()) throw std::logic_error("label_runs: runs exceed the image");
      p[at++] = static_cast<std::uint8_t>(v);
    }
  return m;
}

// A smooth test picture (so JPEG keeps it close), written as JPEG.
inline void write_jpeg(const std::filesystem::path& p, int w, int h, int tint = 0) {
  std::filesystem::create_directories(p.parent_path());
  cv::Mat img(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(4 * x + tint), uchar(3 * y), uchar(128));
  cv::imwrite(p.string(), img);
}

inline std::size_t count_value(const cv::Mat& m, int v) {
  return static_cast<std::size_t>(cv::countNonZero(m == v));
}

}  // namespace difss::test
