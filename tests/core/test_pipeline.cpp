// Pipeline TOML: syntax errors with file:line:col, unknown keys with did-you-mean, parameters
// checked against plugin schemas (type, range, enum, unknown), defaults filled and echoed.
#include <difss/core/errors.hpp>
#include <difss/core/pipeline.hpp>

#include "test_helpers.hpp"

using namespace difss;
using namespace difss::test;

namespace {

std::string config_error(const std::string& toml, bool resolve = true) {
  try {
    Pipeline p = parse_pipeline_string(toml, "/tmp/p.toml");
    if (resolve) resolve_plugins(p, test_registry());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

const char* kGood = R"(
[pipeline]
name = "t"
seed = 3
[dataset]
kind = "yolo-seg"
root = "data"
[condition]
plugin = "org.difss.test.mask-condition"
[generator]
plugin = "org.difss.test.noise-sampler"
params = { steps = 5 }
[segmenter]
plugin = "org.difss.test.color-segmenter"
params = { scale = 30 }
)";

}  // namespace

TEST_CASE("a valid pipeline resolves and fills defaults") {
  Pipeline p = parse_pipeline_string(kGood, "/tmp/x/p.toml");
  resolve_plugins(p, test_registry());
  REQUIRE(p.generator);
  CHECK(p.generator->params.find("steps")->i == 5);
  CHECK(p.generator->params.find("amplitude")->f == 20.0);  // default filled
  CHECK(p.segmenter->params.find("scale")->f == 30.0);      // int accepted for a float
  CHECK(p.dataset["root"] == "/tmp/x/data");                 // relative to the pipeline file
  auto j = p.resolved_json();
  CHECK(j["generator"]["params"]["amplitude"] == 20.0);
  CHECK(j["pipeline"]["seed"] == 3);
  CHECK(j["generator"]["per_support"] == 4);
  CHECK(j["evaluation"]["eval_size"] == "label");
}

TEST_CASE("malformed TOML is reported as file:line:col") {
  std::string e = config_error("[pipeline]\nname = \"x\"\nseed = = 3\n", false);
  CHECK_THAT(e, Catch::StartsWith("/tmp/p.toml:3:"));
}

TEST_CASE("unknown keys and sections are errors with a did-you-mean") {
  std::string e = config_error("[pipeline]\nsede = 1\n[dataset]\nkind = \"x\"\n", false);
  CHECK_THAT(e, Catch::Contains("/tmp/p.toml:2:1: unknown key 'sede' in [pipeline] (did you mean 'seed'?)"));
  e = config_error("[segmentor]\nplugin = \"x\"\n", false);
  CHECK_THAT(e, Catch::Contains("unknown section [segmentor] (did you mean 'segmenter'?)"));
}

TEST_CASE("host-level value types and enums are checked") {
  std::string e = config_error("[pipeline]\nseed = \"zero\"\non_error = \"skipp\"\n", false);
  CHECK_THAT(e, Catch::Contains("/tmp/p.toml:2:8: 'seed' must be an integer, got string"));
  CHECK_THAT(e, Catch::Contains("/tmp/p.toml:3:12: 'on_error' is \"skipp\"; expected one of: stop, skip (did you mean 'skip'?)"));
}

TEST_CASE("unknown plugin ids list close matches") {
  std::string toml = kGood;
  toml.replace(toml.find("org.difss.test.color-segmenter"), 30, "org.difss.test.colour-segmenter");
  std::string e = config_error(toml);
  CHECK_THAT(e, Catch::Contains("unknown plugin 'org.difss.test.colour-segmenter'"));
  CHECK_THAT(e, Catch::Contains("did you mean 'org.difss.test.color-segmenter'?"));
  CHECK_THAT(e, Catch::Contains("/tmp/p.toml:14:10"));
}

TEST_CASE("plugin parameters: wrong type, out of range, unknown name, bad enum") {
  std::string toml = kGood;
  toml.replace(toml.find("steps = 5"), 9, "steps = \"five\", amplitde = 2");
  std::string e = config_error(toml);
  CHECK_THAT(e, Catch::Contains("parameter 'steps' of plugin 'org.difss.test.noise-sampler': expected int, got string"));
  CHECK_THAT(e, Catch::Contains("unknown parameter 'amplitde'"));
  CHECK_THAT(e, Catch::Contains("(did you mean 'amplitude'?)"));

  toml = kGood;
  toml.replace(toml.find("scale = 30"), 10, "scale = 5000.0");
  e = config_error(toml);
  CHECK_THAT(e, Catch::Contains("parameter 'scale'"));
  CHECK_THAT(e, Catch::Contains("out of range; expected float in [1, 1000]"));

  e = config_error(R"([dataset]
kind = "x"
[segmenter]
plugin = "org.difss.test.throwing-segmenter"
params = { mode = "sdt" }
)");
  CHECK_THAT(e, Catch::Contains("/tmp/p.toml:5:19: parameter 'mode'"));
  CHECK_THAT(e, Catch::Contains("(did you mean 'std'?)"));
}

TEST_CASE("a plugin in the wrong section is named with both kinds") {
  std::string e = config_error(R"([dataset]
kind = "x"
[segmenter]
plugin = "org.difss.test.noise-sampler"
)");
  CHECK_THAT(e, Catch::Contains("is a sampler, but [segmenter] needs a segmenter"));
}
