// The test main, compiled once (Catch2's runner is slow to build). Besides running Catch2 it
//   - sets DIFSS_SHARED_DIR to the configured default where the environment names none
//     (shared_data.hpp), so child processes see the folder the test sees;
//   - under ctest, checks that every test case belongs to a part cmake registered
//     (cmake/DifssTesting.cmake), so no test case is silently left out;
//   - exits with kSkipExitCode when test cases were skipped and none failed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "test_skips.hpp"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>

namespace {

bool has_tag(const Catch::TestCaseInfo& t, const std::string& tag) {
  return std::find(t.lcaseTags.begin(), t.lcaseTags.end(), tag) != t.lcaseTags.end();
}

// The ctest entry a test case runs in: tags [slow] and [shared] pick it (DifssTesting.cmake).
std::string part_of(const Catch::TestCaseInfo& t) {
  const bool slow = has_tag(t, "slow"), shared = has_tag(t, "shared");
  return slow ? (shared ? "slow-shared" : "slow") : (shared ? "shared" : "main");
}

// DIFSS_TEST_PARTS (set by ctest) lists the parts registered for this executable, comma-separated.
// A test case of another part would run in no entry: that is an error, not a silent omission.
int check_registered_parts(Catch::Session& session) {
  const char* env = std::getenv("DIFSS_TEST_PARTS");
  if (!env) return 0;
  const std::string registered = std::string(",") + env + ",";
  int missing = 0;
  for (const auto& t : Catch::getAllTestCasesSorted(session.config())) {
    if (t.isHidden() || registered.find("," + part_of(t) + ",") != std::string::npos) continue;
    std::cerr << "error: test case \"" << t.name << "\" belongs to part '" << part_of(t)
              << "', which ctest does not run for this executable (registered: " << env
              << "); re-run cmake so that difss_add_test sees its tags\n";
    ++missing;
  }
  return missing ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* env = std::getenv("DIFSS_SHARED_DIR"); !env || !*env)
    setenv("DIFSS_SHARED_DIR", DIFSS_DEFAULT_SHARED_DIR, 1);
  Catch::Session session;
  if (const int rc = session.applyCommandLine(argc, argv)) return rc;
  if (const int rc = check_registered_parts(session)) return rc;
  const int rc = session.run();
  const auto& skipped = difss::test::skipped_tests();
  if (rc != 0 || skipped.empty()) return rc;
  std::cout << "difss: " << skipped.size() << " test case(s) skipped, none failed:\n";
  for (const auto& s : skipped) std::cout << "  " << s << "\n";
  return difss::test::kSkipExitCode;
}
