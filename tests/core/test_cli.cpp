// difss-host as a user runs it: listings, inspect, validation errors and exit codes, and no
// output written when a pipeline is rejected.
#include "test_helpers.hpp"

using namespace difss::test;
namespace fs = std::filesystem;

namespace {
std::string plugin_arg() { return std::string("--plugin-path ") + DIFSS_TEST_PLUGIN_DIR + " "; }
}  // namespace

TEST_CASE("plugins list shows kind, id and version; --verbose shows rejected candidates") {
  Exec r = run_host(plugin_arg() + "plugins list --verbose");
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Catch::Contains("sampler") && Catch::Contains("org.difss.test.noise-sampler") &&
                           Catch::Contains("1.0.0"));
  CHECK_THAT(r.output, Catch::Contains("REJECTED") && Catch::Contains("difss_broken-abi-major.so"));
  CHECK_THAT(r.output, Catch::Contains("reason: ABI major version 99"));
  CHECK_THAT(r.output, Catch::Contains("reason: not a difss plugin: no exported symbol"));
  CHECK_THAT(r.output, Catch::Contains("undefined symbol"));
  // Refused by build fingerprint, and a failing init() with the reason it logged.
  CHECK_THAT(r.output, Catch::Contains("difss_broken-fingerprint-torch.so") &&
                           Catch::Contains("reason: built against LibTorch 0.4.1"));
  CHECK_THAT(r.output, Catch::Contains("difss_broken-fingerprint-cxxabi.so") &&
                           Catch::Contains("(std::string layouts differ; rebuild the plugin)"));
  CHECK_THAT(r.output, Catch::Contains("difss_broken-init.so") &&
                           Catch::Contains("reason: init() failed: model folder /nonexistent/difss-models is missing"));
}

TEST_CASE("plugins inspect prints parameters with type, default and range, and ports") {
  Exec r = run_host(plugin_arg() + "plugins inspect org.difss.test.noise-sampler");
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Catch::Contains("steps") && Catch::Contains("int in [1, 1000]") &&
                           Catch::Contains("default 3"));
  CHECK_THAT(r.output, Catch::Contains("out  images"));
  Exec bad = run_host(plugin_arg() + "plugins inspect org.difss.test.noise-sampler2");
  CHECK(bad.code == 2);
  CHECK_THAT(bad.output, Catch::Contains("did you mean: org.difss.test.noise-sampler"));
}

TEST_CASE("rejected pipelines exit 2 with located messages and write nothing") {
  TempDir tmp;
  fs::path out = tmp.path / "out";
  std::string head = "[pipeline]\noutput = \"" + out.string() + "\"\n[dataset]\nkind = \"yolo-seg\"\n";

  auto bad_toml = tmp.write("bad.toml", head + "[segmenter\nplugin = 1\n");
  Exec r = run_host(plugin_arg() + "--pipeline " + bad_toml.string());
  CHECK(r.code == 2);
  CHECK_THAT(r.output, Catch::Contains(bad_toml.string() + ":5:"));

  auto unknown = tmp.write("unknown.toml", head + "[segmenter]\nplugin = \"org.difss.test.colorsegmenter\"\n");
  r = run_host(plugin_arg() + "--pipeline " + unknown.string());
  CHECK(r.code == 2);
  CHECK_THAT(r.output, Catch::Contains("did you mean 'org.difss.test.color-segmenter'?"));

  auto wrong_type = tmp.write("type.toml", head + "[segmenter]\nplugin = \"org.difss.test.color-segmenter\"\nparams = { scale = \"big\" }\n");
  r = run_host(plugin_arg() + "validate " + wrong_type.string());
  CHECK(r.code == 2);
  CHECK_THAT(r.output, Catch::Contains("type.toml:7:20: parameter 'scale'") &&
                           Catch::Contains("expected float, got string"));
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("--version and --help exit 0") {
  CHECK(run_host("--version").code == 0);
  Exec h = run_host("--help");
  CHECK(h.code == 0);
  CHECK_THAT(h.output, Catch::Contains("Exit codes"));
}

TEST_CASE("bench and train pass their arguments (and --help) to the benchmark or trainer", "[slow]") {
  Exec none = run_host("bench");
  CHECK(none.code == 2);
  CHECK_THAT(none.output, Catch::Contains("conditions | sampler | segmenter"));
  Exec unknown = run_host("bench nope");
  CHECK(unknown.code == 2);
  CHECK_THAT(unknown.output, Catch::Contains("unknown benchmark 'nope'"));
  // Each benchmark's own usage, not the host's (reported as "not built" where it was left out).
  for (const char* which : {"conditions", "sampler", "segmenter"}) {
    Exec help = run_host(std::string("bench ") + which + " --help");
    INFO(help.output);
    if (help.output.find("not built") != std::string::npos) continue;
    CHECK(help.code == 0);
    CHECK_THAT(help.output, Catch::Contains(std::string("bench ") + which));
    CHECK_THAT(help.output, !Catch::Contains("--plugin-path"));
  }
}
