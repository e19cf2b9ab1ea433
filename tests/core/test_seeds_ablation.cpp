// [evaluation] repeats (seeds.hpp) and `difss-host ablation` (ablation.hpp) on the test plugins.
#include <nlohmann/json.hpp>

#include <fstream>

#include "difss/core/seeds.hpp"
#include "test_helpers.hpp"

using namespace difss::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string pipeline(const fs::path& out, const std::string& evaluation = "") {
  return "[pipeline]\nname = \"t\"\nseed = 5\nthreads = 1\noutput = \"" + out.string() +
         "\"\n[dataset]\nkind = \"synthetic\"\nshots = 1\nepisodes = 6\n"
         "options = { classes = 3, images_per_class = 4, size = 48 }\n"
         "[condition]\nplugin = \"org.difss.test.mask-condition\"\n"
         "[generator]\nplugin = \"org.difss.test.noise-sampler\"\nper_support = 2\n"
         "[segmenter]\nplugin = \"org.difss.test.color-segmenter\"\n[evaluation]\ngrids = 1\n" + evaluation;
}

json read(const fs::path& f) {
  std::ifstream in(f);
  return json::parse(in);
}

std::string plugins() { return std::string("--plugin-path ") + DIFSS_TEST_PLUGIN_DIR + " "; }

}  // namespace

TEST_CASE("summarize_seeds: per-seed values, mean, sample std and the paired difference") {
  auto run = [](double real, double aux) {
    return json{{"metrics", {{"real_only", {{"miou", real}, {"fbiou", 0.5}}}, {"with_aux", {{"miou", aux}, {"fbiou", 0.5}}}}}};
  };
  const json s = difss::summarize_seeds({0, 1, 2}, {run(0.50, 0.52), run(0.60, 0.63), run(0.70, 0.74)});
  CHECK(s["seeds"] == json::array({0, 1, 2}));
  CHECK(s["metrics"]["real_only"]["mean_miou"].get<double>() == Approx(0.60));
  CHECK(s["metrics"]["real_only"]["std_miou"].get<double>() == Approx(0.10));  // n - 1
  CHECK(s["metrics"]["with_aux"]["per_seed"][2]["miou"].get<double>() == Approx(0.74));
  CHECK(s["aux_minus_real"]["mean_miou"].get<double>() == Approx(0.03));
  CHECK(s["aux_minus_real"]["std_miou"].get<double>() == Approx(0.01));
  CHECK(difss::mean_std_text(s["metrics"]["real_only"]) == "60.00 ± 10.00");
  CHECK(difss::summarize_seeds({7}, {run(0.5, 0.5)})["metrics"]["real_only"]["std_miou"] == 0.0);
}

TEST_CASE("[evaluation] repeats runs every seed in its own folder and summarises them") {
  TempDir tmp;
  auto p = tmp.write("p.toml", pipeline(tmp.path / "out", "repeats = 3\n"));
  Exec r = run_host(plugins() + "--pipeline " + p.string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.output, Catch::Contains("aux - real (paired)") && Catch::Contains("3 seeds"));
  const fs::path out = tmp.path / "out";
  for (const char* s : {"seed-5", "seed-6", "seed-7"}) {
    CHECK(fs::exists(out / s / "results.json"));
    CHECK(fs::exists(out / "aux" / s));  // each seed's samples apart
  }
  const json res = read(out / "results.json");
  CHECK(res["seeds"] == json::array({5, 6, 7}));
  REQUIRE(res["metrics"]["real_only"]["per_seed"].size() == 3);
  // Each per-seed value is that seed's own run.
  CHECK(res["metrics"]["real_only"]["per_seed"][1]["miou"] == read(out / "seed-6/results.json")["metrics"]["real_only"]["miou"]);
  CHECK(res["metrics"].contains("baseline_all_foreground"));
  CHECK(res.contains("aux_minus_real"));
  std::ifstream html(out / "index.html");
  const std::string page((std::istreambuf_iterator<char>(html)), std::istreambuf_iterator<char>());
  CHECK_THAT(page, Catch::Contains("seed-6/index.html") && Catch::Contains("mean ± std"));
  // One seed is the ordinary run; shards cannot divide a repeated run.
  auto sharded = run_host(plugins() + "--shard 0/2 --pipeline " + p.string());
  CHECK(sharded.code == 2);
  CHECK_THAT(sharded.output, Catch::Contains("repeats"));
}

TEST_CASE("difss-host ablation: variants x seeds -> table, plot PNG and index.html; bad files named") {
  TempDir tmp;
  tmp.write("base.toml", pipeline(tmp.path / "unused"));
  auto a = tmp.write("a.toml", "[ablation]\npipeline = \"base.toml\"\noutput = \"" + (tmp.path / "abl").string() +
                                   "\"\nrepeats = 2\n"
                                   "[[variant]]\ngroup = \"aux\"\nlabel = \"0\"\nper_support = 0\nplot = \"vote\"\n"
                                   "[[variant]]\ngroup = \"aux\"\nlabel = \"2\"\nper_support = 2\nplot = \"vote\"\n"
                                   "[[variant]]\ngroup = \"shots\"\nlabel = \"3 real\"\nper_support = 0\nshots = 3\n");
  Exec r = run_host(plugins() + "ablation " + a.string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  const fs::path out = tmp.path / "abl";
  for (const char* f : {"results.json", "index.html", "ablation.png"}) CHECK(fs::exists(out / f));
  const json res = read(out / "results.json");
  REQUIRE(res["variants"].size() == 3);
  CHECK(res["variants"][0]["per_support"] == 0);
  CHECK_FALSE(res["variants"][0]["metrics"].contains("with_aux"));
  CHECK(res["variants"][1]["metrics"]["with_aux"]["per_seed"].size() == 2);
  CHECK(res["variants"][2]["shots"] == 3);
  // The variants with fewer aux supports read the same store: the 0-aux real-only numbers equal
  // the 2-aux variant's real-only numbers (same episodes).
  CHECK(res["variants"][0]["metrics"]["real_only"] == res["variants"][1]["metrics"]["real_only"]);

  auto bad = tmp.write("bad.toml", "[ablation]\npipeline = \"base.toml\"\n[[variant]]\ngroup = \"g\"\nlabel = \"x\"\n"
                                   "per_suport = 2\n");
  Exec e = run_host(plugins() + "ablation " + bad.string());
  CHECK(e.code == 2);
  CHECK_THAT(e.output, Catch::Contains("bad.toml:6") && Catch::Contains("per_suport"));
}
