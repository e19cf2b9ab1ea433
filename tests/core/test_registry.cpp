// Discovery and loading: good plugins are registered, broken ones rejected with a reason.
#include "test_helpers.hpp"

using namespace difss;
using namespace difss::test;

TEST_CASE("well-behaved test plugins are registered with their descriptors") {
  const Registry& reg = test_registry();
  for (const char* id : {"org.difss.test.mask-condition", "org.difss.test.noise-sampler",
                         "org.difss.test.color-segmenter", "org.difss.test.throwing-segmenter"}) {
    INFO(id);
    const PluginInfo* p = reg.find(id);
    REQUIRE(p != nullptr);
    CHECK(std::string(p->descriptor->id) == id);
    CHECK(p->descriptor->fingerprint != nullptr);
  }
  CHECK(reg.find("org.difss.test.noise-sampler")->descriptor->kind == DIFSS_KIND_SAMPLER);
  CHECK(reg.find("org.difss.test.mask-condition")->descriptor->kind == DIFSS_KIND_CONDITION);
}

TEST_CASE("broken plugins are rejected, each with its reason") {
  struct Case {
    const char* file;
    const char* reason;
  };
  const Case cases[] = {
      {"broken-abi-major", "ABI major version 99 does not match the host's 2"},
      {"broken-minor-too-new", "requires ABI 2.999 but the host provides 2.0"},
      {"broken-no-entry", "no exported symbol 'difss_plugin_entry'"},
      {"broken-unresolved-symbol", "undefined symbol: difss_test_function_that_does_not_exist"},
      {"broken-missing-library", "libdifss_test_vanishing.so"},
      {"not-a-library", "cannot be loaded"},
      {"broken-fingerprint-torch", "built against LibTorch 0.4.1 but the host process uses LibTorch"},
      {"broken-fingerprint-cxxabi", "_GLIBCXX_USE_CXX11_ABI="},
      {"broken-init", "init() failed: model folder /nonexistent/difss-models is missing"},
  };
  for (const auto& c : cases) {
    INFO(c.file);
    const LibraryRecord* r = record_for(c.file);
    REQUIRE(r != nullptr);
    CHECK_FALSE(r->accepted);
    CHECK_THAT(r->reason, Catch::Contains(c.reason));
  }
}

TEST_CASE("suggestions for a mistyped plugin id") {
  auto s = test_registry().suggest("org.difss.test.noise-sampeler");
  REQUIRE_FALSE(s.empty());
  CHECK(s.front() == "org.difss.test.noise-sampler");
  CHECK(test_registry().suggest("completely.unrelated.thing").empty());
}

TEST_CASE("loading the same library twice is refused, not duplicated") {
  Registry reg;
  auto file = std::filesystem::path(DIFSS_TEST_PLUGIN_DIR) / "difss_test-basic.so";
  CHECK(reg.load_library(file).accepted);
  const LibraryRecord& again = reg.load_library(file);
  CHECK_FALSE(again.accepted);
  CHECK_THAT(again.reason, Catch::Contains("already loaded"));
}
