// Bookkeeping behind test_skips.hpp: a Catch2 listener remembers the running test case.
#include "test_skips.hpp"

// Listeners need the reporter interfaces.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include <algorithm>

namespace difss::test {
namespace {

const Catch::TestCaseInfo* g_current = nullptr;
std::vector<std::string> g_skipped;
std::vector<std::string> g_skipped_names;

struct CurrentTestListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(const Catch::TestCaseInfo& info) override { g_current = &info; }
  void testCaseEnded(const Catch::TestCaseStats&) override { g_current = nullptr; }
};
CATCH_REGISTER_LISTENER(CurrentTestListener)

}  // namespace

void skip_current_test(const std::string& reason) {
  WARN("SKIPPED: " << reason);
  const std::string name = g_current ? g_current->name : "<outside a test case>";
  // A test case with sections runs once per section: record it once.
  if (std::find(g_skipped_names.begin(), g_skipped_names.end(), name) != g_skipped_names.end()) return;
  g_skipped_names.push_back(name);
  g_skipped.push_back(name + ": " + reason);
}

bool current_test_has_tag(const std::string& tag) {
  if (!g_current) return false;
  const auto& tags = g_current->lcaseTags;
  return std::find(tags.begin(), tags.end(), tag) != tags.end();
}

const std::vector<std::string>& skipped_tests() { return g_skipped; }

}  // namespace difss::test
