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


}  // namespace difss::test
