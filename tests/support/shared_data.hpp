// Where the read-only shared test data lives (images, weights, reference facts), and how a test
// case that needs it skips.
//
// DIFSS_SHARED_DIR names the folder. Where the environment names none, the test main sets it to
// the configured default (CMake's DIFSS_SHARED_DIR: ../shared beside the sources), so the test
// and the processes it starts agree, and `DIFSS_SHARED_DIR=/elsewhere ctest` reaches both.
//
// A test case that needs the folder is tagged [shared] and checks each path it reads with
// DIFSS_REQUIRE_SHARED("data/voc-sample"). An absent path ends the test case there and records it
// as skipped (tests/support/test_skips.hpp); the executable then exits with the skip code and
// ctest reports the [shared] entry as skipped, not passed (cmake/DifssTesting.cmake).
#pragma once
#include "test_skips.hpp"

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

// True when `rel` is absent from the shared data: the current test case is then recorded as
// skipped, with a message naming the path. A test case that reads shared data must be tagged
// [shared] (so that it runs in its own ctest entry); one that is not fails here.
inline bool shared_missing(const std::filesystem::path& rel) {
  if (!current_test_has_tag("shared")) {
    FAIL_CHECK("this test case reads the shared data (" << rel << ") but is not tagged [shared]");
    return true;
  }
  const std::filesystem::path path = shared_dir() / rel;
  if (std::filesystem::exists(path)) return false;
  skip_current_test("shared data not found at " + path.string() + " (set DIFSS_SHARED_DIR)");
  return true;
}

}  // namespace difss::test

// Ends the current test case as skipped when `rel` is absent from the shared data.
#define DIFSS_REQUIRE_SHARED(rel)                                   \
  do {                                                              \
    if (::difss::test::shared_missing(rel)) return;                 \
  } while (0)
