// difss-host as a user runs it: listings, inspect, validation errors and exit codes, and no
// output written when a pipeline is rejected.
#include <opencv2/imgproc.hpp>

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

TEST_CASE("bench ID times any plugin through the ABI and prints latency, calls/s and peak RSS") {
  Exec c = run_host(plugin_arg() + "bench org.difss.test.mask-condition --runs 3 --size 64x48 --param value=7");
  INFO(c.output);
  CHECK(c.code == 0);
  CHECK_THAT(c.output, Catch::Contains("org.difss.test.mask-condition 1.0.0 (condition)"));
  CHECK_THAT(c.output, Catch::Contains("value = 7") && !Catch::Contains("value = 7 (default)"));
  CHECK_THAT(c.output, Catch::Contains("synthetic 64x48"));
  CHECK_THAT(c.output, Catch::Contains("3 timed after 1 warm-up"));
  CHECK_THAT(c.output, Catch::Matches("(.|\n)*latency   median [0-9.]+ ms   min [0-9.]+ ms   max [0-9.]+ ms(.|\n)*"));
  CHECK_THAT(c.output, Catch::Matches("(.|\n)*calls/s   [0-9.]+\n(.|\n)*"));
  CHECK_THAT(c.output, Catch::Matches("(.|\n)*peak RSS  [0-9.]+ MiB(.|\n)*"));

  // A sampler and a segmenter (with K supports) the same way; defaults are marked as such.
  Exec s = run_host(plugin_arg() + "bench org.difss.test.noise-sampler --runs 2 --warmup 0 --size 32x32 --images 4");
  INFO(s.output);
  CHECK(s.code == 0);
  CHECK_THAT(s.output, Catch::Contains("steps = 3 (default)") && Catch::Contains("2 timed after 0 warm-up"));
  CHECK_THAT(s.output, Catch::Contains("4 image(s) per call"));
  Exec g = run_host(plugin_arg() + "bench org.difss.test.color-segmenter --runs 2 --shots 3 --size 40x40");
  INFO(g.output);
  CHECK(g.code == 0);
  CHECK_THAT(g.output, Catch::Contains("query + 3 support(s)"));
}

TEST_CASE("bench takes its inputs and parameters from a pipeline's dataset and section") {
  TempDir tmp;
  auto p = tmp.write("p.toml", "[pipeline]\noutput = \"" + (tmp.path / "out").string() +
                                   "\"\n[dataset]\nkind = \"synthetic\"\nshots = 2\n[segmenter]\n"
                                   "plugin = \"org.difss.test.color-segmenter\"\nparams = { scale = 30.0 }\n");
  Exec r = run_host(plugin_arg() + "bench org.difss.test.color-segmenter --runs 2 --pipeline " + p.string());
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Catch::Contains("scale = 30") && Catch::Contains("episode(s) of synthetic") &&
                           Catch::Contains("2 support(s) each"));
  CHECK_FALSE(fs::exists(tmp.path / "out"));  // a benchmark writes no run folder
}

TEST_CASE("bench rejects an unknown plugin or a bad parameter with exit code 2 and a clear message") {
  Exec unknown = run_host(plugin_arg() + "bench org.difss.test.mask-conditon");
  CHECK(unknown.code == 2);
  CHECK_THAT(unknown.output, Catch::Contains("unknown plugin 'org.difss.test.mask-conditon'") &&
                                 Catch::Contains("did you mean 'org.difss.test.mask-condition'?"));
  Exec range = run_host(plugin_arg() + "bench org.difss.test.mask-condition --param value=0");
  CHECK(range.code == 2);
  CHECK_THAT(range.output, Catch::Contains("--param: parameter 'value' of plugin 'org.difss.test.mask-condition'") &&
                               Catch::Contains("out of range"));
  Exec name = run_host(plugin_arg() + "bench org.difss.test.mask-condition --param valeu=3");
  CHECK(name.code == 2);
  CHECK_THAT(name.output, Catch::Contains("unknown parameter 'valeu'") && Catch::Contains("value"));
  Exec text = run_host(plugin_arg() + "bench org.difss.test.mask-condition --param value=many");
  CHECK(text.code == 2);
  CHECK_THAT(text.output, Catch::Contains("expected int, got string"));
  Exec form = run_host(plugin_arg() + "bench org.difss.test.mask-condition --param value");
  CHECK(form.code == 2);
  CHECK_THAT(form.output, Catch::Contains("expected NAME=VALUE"));
  Exec size = run_host(plugin_arg() + "bench org.difss.test.mask-condition --size big");
  CHECK(size.code == 2);
  CHECK_THAT(size.output, Catch::Contains("--size big: expected WxH"));
  CHECK(run_host("bench").code == 2);  // the id is required
}

TEST_CASE("difss-host has no train command (training is difss-tiny-tool's)") {
  Exec t = run_host("train fss");
  CHECK(t.code == 2);
}

TEST_CASE("validate opens the dataset: a mask of another size or a missing mask exits 2 naming the file") {
  TempDir tmp;
  const fs::path root = tmp.path / "data";
  fs::create_directories(root / "cat");
  cv::Mat img(24, 32, CV_8UC3, cv::Scalar(20, 40, 60)), mask(24, 32, CV_8UC1, cv::Scalar(0));
  mask(cv::Rect(8, 6, 16, 12)).setTo(255);
  for (const char* stem : {"a", "b", "c"}) {
    cv::imwrite((root / "cat" / (std::string(stem) + ".jpg")).string(), img);
    cv::imwrite((root / "cat" / (std::string(stem) + ".png")).string(), mask);
  }
  cv::Mat small;
  cv::resize(mask, small, {16, 12}, 0, 0, cv::INTER_NEAREST);
  cv::imwrite((root / "cat" / "b.png").string(), small);
  const std::string text = "[pipeline]\noutput = \"" + (tmp.path / "out").string() +
                           "\"\n[dataset]\nkind = \"folder\"\nroot = \"data\"\n"
                           "[segmenter]\nplugin = \"org.difss.test.color-segmenter\"\n";
  auto p = tmp.write("p.toml", text);
  Exec r = run_host(plugin_arg() + "validate " + p.string());
  INFO(r.output);
  CHECK(r.code == 2);
  CHECK_THAT(r.output, Catch::Contains((root / "cat" / "b.png").string()) &&
                           Catch::Contains("16x12") && Catch::Contains("1 problem(s) in the dataset's files"));
  CHECK_FALSE(fs::exists(tmp.path / "out"));
  // --no-data: the pipeline alone (for data that is not on this machine yet)
  CHECK(run_host(plugin_arg() + "validate --no-data " + p.string()).code == 0);
  // the mask resized as the pipeline asks: no problem left
  std::string with_resize = text;
  with_resize.replace(with_resize.find("root = \"data\"\n"), 14, "root = \"data\"\noptions = { mask_resize = \"nearest\" }\n");
  auto fixed = tmp.write("fixed.toml", with_resize);
  Exec ok = run_host(plugin_arg() + "validate " + fixed.string());
  INFO(ok.output);
  CHECK(ok.code == 0);
  CHECK_THAT(ok.output, Catch::Contains("dataset folder: 1 classes, 3 image-class pairs, 3 image/mask files checked"));
  // a missing mask: named, exit 2
  fs::remove(root / "cat" / "c.png");
  Exec missing = run_host(plugin_arg() + "validate " + fixed.string());
  INFO(missing.output);
  CHECK(missing.code == 2);
  CHECK_THAT(missing.output, Catch::Contains("c.jpg"));
}

TEST_CASE("dataset inspect prints classes, images, groups and foreground share, and warns about small classes") {
  TempDir tmp;
  const fs::path root = tmp.path / "data";
  cv::Mat img(20, 20, CV_8UC3, cv::Scalar(10, 20, 30)), mask(20, 20, CV_8UC1, cv::Scalar(0));
  mask(cv::Rect(0, 0, 10, 10)).setTo(255);  // 25 % foreground
  const std::vector<std::pair<std::string, int>> classes = {{"cat", 4}, {"dog", 2}};
  for (const auto& [cls, n] : classes) {
    fs::create_directories(root / cls);
    for (int k = 0; k < n; ++k) {
      cv::imwrite((root / cls / (std::to_string(k) + ".jpg")).string(), img);
      cv::imwrite((root / cls / (std::to_string(k) + ".png")).string(), mask);
    }
  }
  auto p = tmp.write("p.toml", "[dataset]\nkind = \"folder\"\nroot = \"data\"\nshots = 2\n"
                               "options = { min_images = 2 }\n");
  Exec r = run_host("dataset inspect " + p.string());
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Catch::Contains("2 classes, 6 image-class pairs"));
  CHECK_THAT(r.output, Catch::Matches("(.|\n)*cat +4 +0 +25\\.0%(.|\n)*"));
  CHECK_THAT(r.output, Catch::Contains("warning: class 'dog' has 2 image(s); 2-shot episodes need 3"));
  CHECK_FALSE(Catch::Contains("warning: class 'cat'").match(r.output));
  CHECK(run_host("dataset inspect " + (tmp.path / "missing.toml").string()).code == 2);
}
