// Where the read-only shared test data lives (images, weights, reference facts).
// DIFSS_SHARED_DIR (set by ctest) wins; otherwise ../shared beside the source tree.
// Tests that need it call DIFSS_REQUIRE_SHARED("data/voc-sample") which skips the test case
// with a clear message when the folder is absent.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

namespace difss::test {

inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("DIFSS_SHARED_DIR"); env && *env) return env;
#ifdef DIFSS_SOURCE_DIR
  return std::filesystem::path(DIFSS_SOURCE_DIR) / ".." / "shared";
#else
  return "../shared";
#endif
}

inline std::filesystem::path source_dir() {
#ifdef DIFSS_SOURCE_DIR
  return DIFSS_SOURCE_DIR;
#else
  return ".";
#endif
}

}  // namespace difss::test

// Skips the current test case (with a warning naming the path) when shared data is missing.
#define DIFSS_REQUIRE_SHARED(rel)                                                       \
  do {                                                                                  \
    if (!std::filesystem::exists(::difss::test::shared_dir() / (rel))) {                \
      WARN("SKIPPED: shared data not found at " << (::difss::test::shared_dir() / (rel)) \
                                                << " (set DIFSS_SHARED_DIR)");          \
      return;                                                                           \
    }                                                                                   \
  } while (0)
