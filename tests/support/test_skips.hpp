// Skipped test cases. Catch2 v2 has no SKIP: a test case that returns early counts as passed.
// So a test case that cannot run records itself here before returning, and the test main
// (catch_main.cpp) exits with kSkipExitCode when something was skipped and nothing failed;
// ctest's SKIP_RETURN_CODE turns that into "Skipped" (cmake/DifssTesting.cmake).
#pragma once
#include <string>
#include <vector>

namespace difss::test {

// The exit code of a test executable whose run skipped test cases and failed none (automake's).
inline constexpr int kSkipExitCode = 77;

// Records the running test case as skipped and prints why. The caller returns afterwards.
void skip_current_test(const std::string& reason);

// Whether the running test case carries the tag (without brackets, lower case).
bool current_test_has_tag(const std::string& tag);

// "name: reason" for every test case skipped so far in this process.
const std::vector<std::string>& skipped_tests();

}  // namespace difss::test
