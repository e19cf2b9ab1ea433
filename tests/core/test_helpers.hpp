// Shared helpers for the host tests: a registry over the test plugins, temp dirs, running
// difss-host as a child process.
#pragma once

#include <difss/core/registry.hpp>

#include <catch2/catch.hpp>

#include "host_exec.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <fcntl.h>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <string>

namespace difss::test {

inline Registry& test_registry() {
  static Registry* reg = [] {
    auto* r = new Registry;
    DiscoveryOptions o;
    o.plugin_paths = {DIFSS_TEST_PLUGIN_DIR};
    o.use_environment = false;
    o.use_default_dirs = false;
    r->discover(o);
    return r;
  }();
  return *reg;
}

inline const LibraryRecord* record_for(const std::string& file_part) {
  for (const auto& l : test_registry().libraries())
    if (l.path.filename().string().find(file_part) != std::string::npos) return &l;
  return nullptr;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("difss-test-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    auto p = path / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }
};


// A folder dataset under `data`: classes a and b of `per_class` 40x40 JPEG images with PNG masks
// (a 20x20 square), and image b/1.jpg corrupt.
inline void write_folder_dataset_with_corrupt_image(const std::filesystem::path& data, int per_class) {
  for (const char* cls : {"a", "b"})
    for (int i = 0; i < per_class; ++i) {
      std::filesystem::create_directories(data / cls);
      cv::Mat img(40, 40, CV_8UC3, cv::Scalar(30 * i, 100, std::string(cls) == "a" ? 200 : 20));
      cv::Mat m(40, 40, CV_8UC1, cv::Scalar(0));
      m(cv::Rect(10, 10, 20, 20)).setTo(255);
      cv::imwrite((data / cls / (std::to_string(i) + ".jpg")).string(), img);
      cv::imwrite((data / cls / (std::to_string(i) + ".png")).string(), m);
    }
  std::ofstream(data / "b" / "1.jpg") << "not a jpeg";
}

}  // namespace difss::test
