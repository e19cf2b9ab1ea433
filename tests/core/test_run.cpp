// Runs as a user runs them (difss-host as a child process): outputs, determinism, resume after
// kill -9 with identical metrics and no partial files, a changed pipeline refused, skip on error.
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include "shared_data.hpp"
#include "test_helpers.hpp"

using namespace difss::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string pipeline(const fs::path& out, int episodes, const std::string& extra = "") {
  return "[pipeline]\nname = \"t\"\nseed = 5\nthreads = 1\noutput = \"" + out.string() +
         "\"\n[dataset]\nkind = \"synthetic\"\nshots = 1\nepisodes = " + std::to_string(episodes) +
         "\noptions = { classes = 3, images_per_class = 6, size = 64 }\n"
         "[condition]\nplugin = \"org.difss.test.mask-condition\"\n"
         "[generator]\nplugin = \"org.difss.test.noise-sampler\"\nper_support = 2\n"
         "[segmenter]\nplugin = \"org.difss.test.color-segmenter\"\n[evaluation]\ngrids = 2\n" + extra;
}

json read(const fs::path& f) {
  std::ifstream in(f);
  return json::parse(in);
}

size_t count_files(const fs::path& dir, const std::string& part) {
  size_t n = 0;
  if (!fs::exists(dir)) return 0;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(part) != std::string::npos) ++n;
  return n;
}

// Generate mode over 2 x 3 synthetic images, 3 aux images per support; `pipeline_keys` are more
// [pipeline] keys.
std::string generate_pipeline(const fs::path& out, const std::string& pipeline_keys = "") {
  return "[pipeline]\nmode = \"generate\"\nseed = 1\n" + pipeline_keys + "output = \"" + out.string() +
         "\"\n[dataset]\nkind = \"synthetic\"\noptions = { classes = 2, images_per_class = 3, size = 48 }\n"
         "[condition]\nplugin = \"org.difss.test.mask-condition\"\n"
         "[generator]\nplugin = \"org.difss.test.noise-sampler\"\nper_support = 3\n";
}

std::string plugins() { return std::string("--plugin-path ") + DIFSS_TEST_PLUGIN_DIR + " "; }

}  // namespace

TEST_CASE("a run writes results.json, the CSV, grids, index.html and the aux store") {
  TempDir tmp;
  auto p = tmp.write("p.toml", pipeline(tmp.path / "out", 12));
  Exec r = run_host(plugins() + "--pipeline " + p.string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.output, Catch::Contains("real only") && Catch::Contains("real + 2 aux/support") &&
                           Catch::Contains("index.html"));
  fs::path out = tmp.path / "out";
  for (const char* f : {"results.json", "episodes.csv", "episodes.json", "index.html", "run.log",
                        "grids/episode_000000.png", "grids/episode_000001.png"})
    CHECK(fs::exists(out / f));
  CHECK_FALSE(fs::exists(out / "grids/episode_000002.png"));
  json res = read(out / "results.json");
  CHECK(res["counts"]["episodes"] == 12);
  CHECK(res["metrics"]["real_only"]["episodes"] == 12);
  CHECK(res["metrics"]["with_aux"]["episodes"] == 12);
  CHECK(res["pipeline"]["generator"]["params"]["amplitude"] == 20.0);  // defaults echoed
  CHECK(res["note"].get<std::string>().find("not the paper's results") != std::string::npos);
  // mIoU is the mean of the per-class foreground IoUs over the dataset's classes.
  const json& real = res["metrics"]["real_only"];
  double sum = 0;
  for (const auto& pc : real["per_class"]) sum += pc["iou_fg"].get<double>();
  CHECK(real["miou"].get<double>() == Approx(sum / real["per_class"].size()));
  CHECK(real["per_class"].size() == 3);
  CHECK(real["fbiou"].get<double>() > 0.0);
  CHECK(real["fbiou"].get<double>() <= 1.0);
  CHECK(count_files(out / "aux", "_0.jpg") > 0);
  CHECK(count_files(out / "aux", "_control.jpg") > 0);
  CHECK(count_files(out, ".tmp-") == 0);
  std::ifstream csv(out / "episodes.csv");
  std::string header;
  std::getline(csv, header);
  CHECK(header == "index,class_id,class_name,query,supports,iou_real,iou_aux,seconds,status");
}

TEST_CASE("the episode list and metrics for a fixed seed are identical in two runs") {
  TempDir tmp;
  auto a = tmp.write("a.toml", pipeline(tmp.path / "a", 10));
  auto b = tmp.write("b.toml", pipeline(tmp.path / "b", 10, "").replace(0, 0, ""));
  REQUIRE(run_host(plugins() + "--pipeline " + a.string()).code == 0);
  REQUIRE(run_host(plugins() + "--threads 2 --pipeline " + b.string()).code == 0);
  CHECK(read(tmp.path / "a/episodes.json")["episodes"] == read(tmp.path / "b/episodes.json")["episodes"]);
  CHECK(read(tmp.path / "a/results.json")["metrics"] == read(tmp.path / "b/results.json")["metrics"]);
}

TEST_CASE("killed with SIGKILL midway, a re-run resumes without redoing episodes and matches", "[slow]") {
  TempDir tmp;
  const int n = 300;
  auto ref = tmp.write("ref.toml", pipeline(tmp.path / "ref", n));
  REQUIRE(run_host(plugins() + "--pipeline " + ref.string()).code == 0);

  fs::path out = tmp.path / "killed";
  auto p = tmp.write("k.toml", pipeline(out, n));
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    std::string pp = DIFSS_TEST_PLUGIN_DIR;
    execl(std::getenv("DIFSS_HOST_EXE"), "difss-host", "--plugin-path", pp.c_str(), "--pipeline",
          p.c_str(), (char*)nullptr);
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (count_files(out / "episodes", ".json") < 20 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  size_t done_before = count_files(out / "episodes", ".json");
  INFO("episodes finished before the kill: " << done_before);
  REQUIRE(done_before >= 20);
  CHECK_FALSE(fs::exists(out / "results.json"));  // nothing pretends to be complete

  Exec r = run_host(plugins() + "--pipeline " + p.string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.output, Catch::Contains("resuming"));
  // The final progress line reports the episodes that were skipped because they were done.
  CHECK_THAT(r.output, Catch::Contains(std::to_string(n) + "/" + std::to_string(n) + " (" +
                                       std::to_string(done_before)) ||
                           Catch::Contains("skipped"));
  CHECK(count_files(out, ".tmp-") == 0);
  json a = read(out / "results.json"), b = read(tmp.path / "ref/results.json");
  CHECK(a["metrics"] == b["metrics"]);
  CHECK(read(out / "episodes.json")["episodes"] == read(tmp.path / "ref/episodes.json")["episodes"]);
}

TEST_CASE("a different pipeline is refused in an existing run folder") {
  TempDir tmp;
  auto a = tmp.write("a.toml", pipeline(tmp.path / "out", 4));
  REQUIRE(run_host(plugins() + "--pipeline " + a.string()).code == 0);
  std::string changed = pipeline(tmp.path / "out", 4);
  changed.replace(changed.find("seed = 5"), 8, "seed = 6");
  auto b = tmp.write("b.toml", changed);
  Exec r = run_host(plugins() + "--pipeline " + b.string());
  CHECK(r.code == 2);
  CHECK_THAT(r.output, Catch::Contains("holds a run of a different pipeline"));
}

TEST_CASE("unreadable images stop the run, or are skipped and counted with on_error = skip") {
  TempDir tmp;
  fs::path data = tmp.path / "data";
  // A folder dataset: two classes of three images; one image of class b is corrupt.
  difss::test::write_folder_dataset_with_corrupt_image(data, 3);
  std::string base = "[pipeline]\noutput = \"" + (tmp.path / "out").string() + "\"\n";
  std::string rest = "[dataset]\nkind = \"folder\"\nroot = \"data\"\nepisodes = 12\n"
                     "[segmenter]\nplugin = \"org.difss.test.color-segmenter\"\n";
  auto stop = tmp.write("stop.toml", base + rest);
  Exec r = run_host(plugins() + "--pipeline " + stop.string());
  CHECK(r.code == 1);
  CHECK_THAT(r.output, Catch::Contains((data / "b" / "1.jpg").string()));
  fs::remove_all(tmp.path / "out");
  auto skip = tmp.write("skip.toml", base + "on_error = \"skip\"\n" + rest);
  r = run_host(plugins() + "--pipeline " + skip.string());
  INFO(r.output);
  CHECK(r.code == 0);
  json res = read(tmp.path / "out/results.json");
  CHECK(res["counts"]["skipped"].get<int>() > 0);
  CHECK(res["skipped"][0]["reason"].get<std::string>().find("1.jpg") != std::string::npos);
}

TEST_CASE("two shards of a run give exactly the metrics of the unsharded run", "[slow]") {
  TempDir tmp;
  auto whole = tmp.write("w.toml", pipeline(tmp.path / "whole", 16));
  auto split = tmp.write("s.toml", pipeline(tmp.path / "split", 16));
  REQUIRE(run_host(plugins() + "--pipeline " + whole.string()).code == 0);
  Exec first = run_host(plugins() + "--shard 0/2 --pipeline " + split.string());
  REQUIRE(first.code == 0);
  CHECK_THAT(first.output, Catch::Contains("not done yet (other shards"));
  CHECK_FALSE(fs::exists(tmp.path / "split/results.json"));
  REQUIRE(run_host(plugins() + "--shard 1/2 --pipeline " + split.string()).code == 0);
  CHECK(read(tmp.path / "split/results.json")["metrics"] == read(tmp.path / "whole/results.json")["metrics"]);
  CHECK(run_host(plugins() + "--shard 2/2 --pipeline " + split.string()).code == 2);
}

TEST_CASE("shard auto takes Slurm's array task; aggregate RUN_DIR writes the results of the shards") {
  TempDir tmp;
  auto whole = tmp.write("w.toml", pipeline(tmp.path / "whole", 10));
  auto split = tmp.write("s.toml", pipeline(tmp.path / "split", 10));
  REQUIRE(run_host(plugins() + "--pipeline " + whole.string()).code == 0);
  CHECK(run_host(plugins() + "--shard auto --pipeline " + split.string()).code == 2);  // no scheduler
  // an array submitted as --array=3-4: ids count from SLURM_ARRAY_TASK_MIN
  setenv("SLURM_ARRAY_TASK_COUNT", "2", 1);
  setenv("SLURM_ARRAY_TASK_MIN", "3", 1);
  for (const char* id : {"3", "4"}) {
    setenv("SLURM_ARRAY_TASK_ID", id, 1);
    Exec r = run_host(plugins() + "--shard auto --pipeline " + split.string());
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains(std::string("--shard auto: shard ") + (id[0] == '3' ? "0" : "1") + "/2"));
  }
  unsetenv("SLURM_ARRAY_TASK_ID");
  unsetenv("SLURM_ARRAY_TASK_COUNT");
  unsetenv("SLURM_ARRAY_TASK_MIN");
  const json expected = read(tmp.path / "whole/results.json")["metrics"];
  CHECK(read(tmp.path / "split/results.json")["metrics"] == expected);  // the last shard wrote them
  fs::remove(tmp.path / "split/results.json");
  Exec agg = run_host(plugins() + "aggregate " + (tmp.path / "split").string());
  INFO(agg.output);
  REQUIRE(agg.code == 0);
  CHECK(read(tmp.path / "split/results.json")["metrics"] == expected);
  // an unfinished run: aggregate says how many are missing and exits 1; not a run folder: exit 2
  fs::remove(tmp.path / "split/episodes/000004.json");
  Exec partial = run_host(plugins() + "aggregate " + (tmp.path / "split").string());
  CHECK(partial.code == 1);
  CHECK_THAT(partial.output, Catch::Contains("1 episode(s) are not done yet"));
  Exec none = run_host(plugins() + "aggregate " + tmp.path.string());
  CHECK(none.code == 2);
  CHECK_THAT(none.output, Catch::Contains("no run.json"));
}

TEST_CASE("generate mode writes per_support aux images for every pair and resumes") {
  TempDir tmp;
  auto p = tmp.write("g.toml", generate_pipeline(tmp.path / "gen"));
  Exec r = run_host(plugins() + "--pipeline " + p.string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  json res = read(tmp.path / "gen/results.json");
  size_t pairs = res["counts"]["pairs"];
  CHECK(pairs > 0);
  CHECK(res["counts"]["generated_images"] == pairs * 3);
  CHECK(count_files(tmp.path / "gen/aux", "_2.jpg") == pairs);
  CHECK(count_files(tmp.path / "gen/aux", "_3.jpg") == 0);
  CHECK(count_files(tmp.path / "gen/aux", "_control.jpg") == pairs);
  r = run_host(plugins() + "--pipeline " + p.string());  // everything exists: nothing generated
  REQUIRE(r.code == 0);
  CHECK(read(tmp.path / "gen/results.json")["counts"]["generated_images"] == 0);
}

TEST_CASE("a support a plugin declines (DIFSS_SKIP) is counted, not a failure, even with on_error = stop") {
  TempDir tmp;
  std::string text = generate_pipeline(tmp.path / "gen");
  const std::string cond = "plugin = \"org.difss.test.mask-condition\"\n";
  text.replace(text.find(cond), cond.size(), cond + "params = { decline_odd_classes = true }\n");
  auto p = tmp.write("g.toml", text);
  Exec r = run_host(plugins() + "--pipeline " + p.string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  json res = read(tmp.path / "gen/results.json");
  const size_t pairs = res["counts"]["pairs"], declined = res["counts"]["declined"];
  const size_t generated = res["counts"]["generated_images"];
  CHECK(declined > 0);
  CHECK(generated > 0);
  CHECK(declined + generated / 3 == pairs);
  CHECK(res["counts"]["skipped"] == 0);
  CHECK_THAT(r.output, Catch::Contains("declined by a plugin"));
}

TEST_CASE("the sampler receives the pipeline's prompt texts and per_support as its count") {
  TempDir tmp;
  const std::string head = generate_pipeline(tmp.path / "gen", "log_level = \"debug\"\n");
  auto p = tmp.write("g.toml", head);
  Exec r = run_host(plugins() + "--pipeline " + p.string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  std::ifstream in(tmp.path / "gen/run.log");
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // the test sampler logs "sampled <count> images for '<prompt>'": the default text, whole, once
  CHECK_THAT(log, Catch::Contains("sampled 3 images for 'a real shot photo of ") &&
                      Catch::Contains(", best quality, extremely detailed'") &&
                      !Catch::Contains("extremely detailed, best quality"));

  // per_support written where samplers used to take it: refused, saying where it went
  auto moved = tmp.write("m.toml", head + "params = { per_support = 2 }\n");
  r = run_host(plugins() + "validate " + moved.string());
  CHECK(r.code == 2);
  CHECK_THAT(r.output, Catch::Contains("m.toml:14:26: [generator] params: 'per_support' is not a sampler parameter") &&
                           Catch::Contains("directly under [generator]"));
}

TEST_CASE("a pipeline over coco128-seg produces results, CSV, grids and the report", "[shared]") {
  DIFSS_REQUIRE_SHARED("data/coco128-seg");
  TempDir tmp;
  std::string toml = "[pipeline]\noutput = \"" + (tmp.path / "coco").string() + "\"\n[dataset]\nkind = \"yolo-seg\"\nroot = \"" +
                     (shared_dir() / "data/coco128-seg").string() + "\"\nepisodes = 6\n"
                     "[segmenter]\nplugin = \"org.difss.test.color-segmenter\"\n[evaluation]\ngrids = 2\n";
  auto p = tmp.write("c.toml", toml);
  Exec r = run_host(plugins() + "--pipeline " + p.string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  for (const char* f : {"results.json", "episodes.csv", "index.html", "grids/episode_000001.png"})
    CHECK(fs::exists(tmp.path / "coco" / f));
  json m = read(tmp.path / "coco/results.json")["metrics"];
  CHECK(m["real_only"]["episodes"] == 6);
  // The trivial baselines on the same queries: no pixel object scores 0 mIoU; every pixel object
  // scores the object's share of each query (some but not all pixels belong to the class).
  REQUIRE(m.contains("baseline_all_background"));
  REQUIRE(m.contains("baseline_all_foreground"));
  CHECK(m["baseline_all_background"]["miou"].get<double>() == 0.0);
  CHECK(m["baseline_all_foreground"]["miou"].get<double>() > 0.0);
  CHECK(m["baseline_all_foreground"]["miou"].get<double>() < 1.0);
  CHECK(m["baseline_all_foreground"]["episodes"] == 6);
  CHECK_THAT(r.output, Catch::Contains("(every pixel object)"));
}

TEST_CASE("a re-run whose dataset files changed refuses to resume and names the file") {
  TempDir tmp;
  const fs::path root = tmp.path / "data";
  fs::create_directories(root / "cat");
  cv::Mat img(24, 32, CV_8UC3, cv::Scalar(200, 40, 60)), mask(24, 32, CV_8UC1, cv::Scalar(0));
  mask(cv::Rect(8, 6, 16, 12)).setTo(255);
  for (const char* stem : {"a", "b", "c"}) {
    cv::imwrite((root / "cat" / (std::string(stem) + ".jpg")).string(), img);
    cv::imwrite((root / "cat" / (std::string(stem) + ".png")).string(), mask);
  }
  auto p = tmp.write("p.toml", "[pipeline]\nseed = 1\noutput = \"" + (tmp.path / "run").string() +
                                   "\"\n[dataset]\nkind = \"folder\"\nroot = \"data\"\nepisodes = 6\n"
                                   "[segmenter]\nplugin = \"org.difss.test.color-segmenter\"\n");
  Exec first = run_host(plugins() + "--pipeline " + p.string());
  INFO(first.output);
  REQUIRE(first.code == 0);
  REQUIRE(fs::exists(tmp.path / "run/inputs.json"));
  // unchanged inputs: resumes
  CHECK(run_host(plugins() + "--pipeline " + p.string()).code == 0);

  // a mask is redrawn: refused, naming it
  mask(cv::Rect(0, 0, 6, 6)).setTo(255);
  const fs::path changed = root / "cat" / "b.png";
  cv::imwrite(changed.string(), mask);
  fs::last_write_time(changed, fs::last_write_time(changed) + std::chrono::seconds(5));
  Exec again = run_host(plugins() + "--pipeline " + p.string());
  INFO(again.output);
  CHECK(again.code == 2);
  CHECK_THAT(again.output, Catch::Contains("'" + changed.string() + "' changed") &&
                               Catch::Contains("--force-restart") && Catch::Contains("--resume-anyway"));

  CHECK(run_host(plugins() + "--resume-anyway --pipeline " + p.string()).code == 0);
  CHECK(run_host(plugins() + "--pipeline " + p.string()).code == 0);  // the new inputs were recorded
  cv::imwrite(changed.string(), img);  // now a 3-channel "mask": changed again
  fs::last_write_time(changed, fs::last_write_time(changed) + std::chrono::seconds(10));
  Exec restart = run_host(plugins() + "--force-restart --pipeline " + p.string());
  INFO(restart.output);
  CHECK(restart.code == 0);
  CHECK_THAT(restart.output, Catch::Contains("removing the previous run"));
  CHECK(run_host(plugins() + "--force-restart --resume-anyway --pipeline " + p.string()).code == 2);
}
