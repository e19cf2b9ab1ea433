// difss-host under mpirun: one run shared by N ranks gives what one process gives — the same
// metrics, byte-identical auxiliary images — in evaluate and generate modes, after a rank was
// killed and the job re-launched with another N, and failures reach every rank.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>

#include <opencv2/imgcodecs.hpp>

#include "test_helpers.hpp"
#include "host_exec.hpp"

namespace fs = std::filesystem;
using difss::test::Exec;
using nlohmann::json;

namespace {

std::string shell_output(const std::string& cmd, int* code = nullptr) {
  std::string out;
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(f != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const int status = pclose(f);
  if (code) *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// mpirun with what this machine needs: CI runs as root; N ranks may exceed the cores.
std::string mpirun(int ranks) {
  std::string cmd = std::string(DIFSS_MPIEXEC) + " -np " + std::to_string(ranks) + " --oversubscribe";
  if (geteuid() == 0) cmd += " --allow-run-as-root";
  return cmd + " " + difss::test::host_exe() + " ";
}

Exec run_mpi(int ranks, const std::string& args) {
  Exec r;
  r.output = shell_output(mpirun(ranks) + args, &r.code);
  return r;
}

json read_json(const fs::path& f) {
  std::ifstream in(f);
  REQUIRE(in.good());
  return json::parse(in);
}

std::string file_bytes(const fs::path& f) {
  std::ifstream in(f, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every file under `a` has a byte-identical twin under `b`, and the other way round.
void require_same_tree(const fs::path& a, const fs::path& b) {
  REQUIRE(fs::is_directory(a));
  REQUIRE(fs::is_directory(b));
  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(a)) {
    if (!e.is_regular_file()) continue;
    const fs::path rel = fs::relative(e.path(), a);
    INFO(rel.string());
    REQUIRE(fs::exists(b / rel));
    CHECK(file_bytes(e.path()) == file_bytes(b / rel));
    ++files;
  }
  size_t other = 0;
  for (const auto& e : fs::recursive_directory_iterator(b)) other += e.is_regular_file();
  CHECK(files == other);
  CHECK(files > 0);
}

std::string test_plugins() { return std::string("--plugin-path ") + DIFSS_TEST_PLUGIN_DIR + " "; }

// 24 episodes over 3 x 6 synthetic images with test plugins (mask condition, noise sampler,
// colour segmenter): seconds per run, aux images generated on the fly.
std::string small_pipeline(const fs::path& out, const std::string& mode = "evaluate") {
  return "[pipeline]\nmode = \"" + mode + "\"\nseed = 3\nthreads = 1\noutput = \"" + out.string() +
         "\"\n[dataset]\nkind = \"synthetic\"\nshots = 1\nepisodes = 24\n"
         "options = { classes = 3, images_per_class = 6, size = 64 }\n"
         "[condition]\nplugin = \"org.difss.test.mask-condition\"\n"
         "[generator]\nplugin = \"org.difss.test.noise-sampler\"\nper_support = 2\n" +
         (mode == "evaluate" ? "[segmenter]\nplugin = \"org.difss.test.color-segmenter\"\n[evaluation]\ngrids = 3\n"
                             : std::string());
}

fs::path write(const fs::path& f, const std::string& text) {
  std::ofstream(f) << text;
  return f;
}

// The demo pipeline (tiny ControlNet + tiny HSNet, 100 episodes) with its output elsewhere.
fs::path demo_into(const fs::path& dir, const std::string& name) {
  std::string text = file_bytes(fs::path(DIFSS_SOURCE_DIR) / "configs/demo-classic.toml");
  const std::string key = "output = \"runs/demo-classic\"";
  const auto at = text.find(key);
  REQUIRE(at != std::string::npos);
  text.replace(at, key.size(), "output = \"" + (dir / name).string() + "\"");
  return write(dir / (name + ".toml"), text);
}

size_t files_in(const fs::path& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) ++n;
  return n;
}

// The pid of rank `rank` of a difss-host job whose command line mentions `marker`, or 0.
pid_t find_rank(const std::string& marker, int rank) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = file_bytes(e.path() / "cmdline"), env = file_bytes(e.path() / "environ");
    for (auto& c : cmdline)
      if (c == '\0') c = ' ';
    if (cmdline.find("difss-host") == std::string::npos || cmdline.find(marker) == std::string::npos) continue;
    if (env.find(std::string("OMPI_COMM_WORLD_RANK=") + std::to_string(rank) + '\0') != std::string::npos)
      return pid_t(std::stol(name));
  }
  return 0;
}

}  // namespace

TEST_CASE("mpirun -np 3: evaluate gives the single-process metrics and byte-identical aux images") {
  difss::test::TempDir tmp;
  const auto one = write(tmp.path / "one.toml", small_pipeline(tmp.path / "one"));
  const auto three = write(tmp.path / "three.toml", small_pipeline(tmp.path / "three"));
  const Exec single = difss::test::run_host(test_plugins() + "--pipeline " + one.string());
  INFO(single.output);
  REQUIRE(single.code == 0);
  const Exec mpi = run_mpi(3, test_plugins() + "--pipeline " + three.string());
  INFO(mpi.output);
  REQUIRE(mpi.code == 0);
  CHECK_THAT(mpi.output, Catch::Contains("[rank 2/3]") && Catch::Contains("mpi: 3 ranks"));
  const json a = read_json(tmp.path / "one/results.json"), b = read_json(tmp.path / "three/results.json");
  CHECK(a["metrics"] == b["metrics"]);
  CHECK(a["counts"]["episodes"] == b["counts"]["episodes"]);
  CHECK(b["timing"]["processes"] == "mpi: 3 ranks");
  CHECK(file_bytes(tmp.path / "one/episodes.csv").size() > 0);
  require_same_tree(tmp.path / "one/aux", tmp.path / "three/aux");
  require_same_tree(tmp.path / "one/grids", tmp.path / "three/grids");
  // every episode record, whichever rank wrote it, equals the single process's but for its time
  for (const auto& e : fs::directory_iterator(tmp.path / "one/episodes")) {
    json x = read_json(e.path()), y = read_json(tmp.path / "three/episodes" / e.path().filename());
    x.erase("seconds");
    y.erase("seconds");
    CHECK(x == y);
  }
}

TEST_CASE("mpirun -np 3: generate writes the single process's aux images, byte for byte") {
  difss::test::TempDir tmp;
  const auto one = write(tmp.path / "one.toml", small_pipeline(tmp.path / "one", "generate"));
  const auto three = write(tmp.path / "three.toml", small_pipeline(tmp.path / "three", "generate"));
  REQUIRE(difss::test::run_host(test_plugins() + "--pipeline " + one.string()).code == 0);
  const Exec mpi = run_mpi(3, test_plugins() + "--pipeline " + three.string());
  INFO(mpi.output);
  REQUIRE(mpi.code == 0);
  const json a = read_json(tmp.path / "one/results.json"), b = read_json(tmp.path / "three/results.json");
  CHECK(a["counts"] == b["counts"]);
  CHECK(b["counts"]["generated_images"] == 36);  // 18 pairs x 2
  require_same_tree(tmp.path / "one/aux", tmp.path / "three/aux");
}

TEST_CASE("mpirun: a failing item stops every rank (on_error = stop) or is skipped and counted (skip)") {
  difss::test::TempDir tmp;
  const fs::path data = tmp.path / "data";
  // A folder dataset: two classes of four images; one image of class b is corrupt.
  difss::test::write_folder_dataset_with_corrupt_image(data, 4);
  const std::string rest = "[dataset]\nkind = \"folder\"\nroot = \"" + data.string() +
                           "\"\nepisodes = 16\n[segmenter]\nplugin = \"org.difss.test.color-segmenter\"\n";
  const auto stop = write(tmp.path / "stop.toml", "[pipeline]\noutput = \"" + (tmp.path / "stop").string() + "\"\n" + rest);
  const Exec stopped = run_mpi(3, test_plugins() + "--pipeline " + stop.string());
  INFO(stopped.output);
  CHECK(stopped.code != 0);
  CHECK_THAT(stopped.output, Catch::Contains((data / "b" / "1.jpg").string()) && Catch::Contains("rank"));
  CHECK_FALSE(fs::exists(tmp.path / "stop/results.json"));

  const std::string skip_head = "on_error = \"skip\"\nthreads = 1\n";
  const auto one = write(tmp.path / "one.toml", "[pipeline]\noutput = \"" + (tmp.path / "one").string() + "\"\n" + skip_head + rest);
  const auto three = write(tmp.path / "three.toml", "[pipeline]\noutput = \"" + (tmp.path / "three").string() + "\"\n" + skip_head + rest);
  REQUIRE(difss::test::run_host(test_plugins() + "--pipeline " + one.string()).code == 0);
  const Exec skipped = run_mpi(3, test_plugins() + "--pipeline " + three.string());
  INFO(skipped.output);
  REQUIRE(skipped.code == 0);
  const json a = read_json(tmp.path / "one/results.json"), b = read_json(tmp.path / "three/results.json");
  CHECK(b["counts"]["skipped"].get<int>() > 0);
  CHECK(a["counts"] == b["counts"]);
  CHECK(a["skipped"] == b["skipped"]);
  CHECK(a["metrics"] == b["metrics"]);
}

TEST_CASE("--gpu-per-rank gives each rank of a node the entry of CUDA_VISIBLE_DEVICES at its local rank") {
  setenv("CUDA_VISIBLE_DEVICES", "5,7", 1);
  const Exec two = run_mpi(2, "--gpu-per-rank plugins list");
  const Exec three = run_mpi(3, "--gpu-per-rank plugins list");
  unsetenv("CUDA_VISIBLE_DEVICES");
  INFO(two.output);
  CHECK(two.code == 0);
  CHECK_THAT(two.output, Catch::Contains("[rank 0/2] --gpu-per-rank: CUDA_VISIBLE_DEVICES=5") &&
                             Catch::Contains("[rank 1/2] --gpu-per-rank: CUDA_VISIBLE_DEVICES=7"));
  INFO(three.output);
  CHECK(three.code == 2);
  CHECK_THAT(three.output, Catch::Contains("local rank 2 but CUDA_VISIBLE_DEVICES lists 2 device(s)"));
}

TEST_CASE("mpirun -np 3 on configs/demo-classic.toml equals one process, results and aux images", "[slow]") {
  difss::test::TempDir tmp;
  const auto one = demo_into(tmp.path, "one"), three = demo_into(tmp.path, "three");
  // configs/demo-classic.toml pins threads = 1, so one process and each rank compute alike
  const Exec single = difss::test::run_host("--pipeline " + one.string());
  INFO(single.output);
  REQUIRE(single.code == 0);
  const Exec mpi = run_mpi(3, "--pipeline " + three.string());
  INFO(mpi.output);
  REQUIRE(mpi.code == 0);
  const json a = read_json(tmp.path / "one/results.json"), b = read_json(tmp.path / "three/results.json");
  CHECK(a["metrics"] == b["metrics"]);
  // Two ranks that need the same support's aux images at the same moment both make them (same
  // seed, same bytes; docs/SCALING.md): the count of images made may be higher, nothing else.
  json ca = a["counts"], cb = b["counts"];
  CHECK(cb["aux_generated_this_run"].get<int>() >= ca["aux_generated_this_run"].get<int>());
  ca.erase("aux_generated_this_run");
  cb.erase("aux_generated_this_run");
  CHECK(ca == cb);
  require_same_tree(tmp.path / "one/aux", tmp.path / "three/aux");

  SECTION("a rank killed with SIGKILL mid-run; re-launched with another N, the results are the same") {
    const auto killed = demo_into(tmp.path, "killed");
    const std::string launch = mpirun(2) + "--pipeline " + killed.string() + " > " +
                               (tmp.path / "killed.log").string() + " 2>&1 & echo $!";
    const pid_t job = pid_t(std::stol(shell_output(launch)));
    REQUIRE(job > 0);
    // wait until the job is well under way, then kill rank 1
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    while (files_in(tmp.path / "killed/episodes") < 20 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    REQUIRE(files_in(tmp.path / "killed/episodes") >= 20);
    const pid_t victim = find_rank(killed.string(), 1);
    REQUIRE(victim > 0);
    REQUIRE(::kill(victim, SIGKILL) == 0);
    while (::kill(job, 0) == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    REQUIRE(::kill(job, 0) != 0);  // mpirun ended the job
    const size_t done_before = files_in(tmp.path / "killed/episodes");
    CHECK(done_before < 100);
    CHECK_FALSE(fs::exists(tmp.path / "killed/results.json"));
    const Exec resumed = run_mpi(3, "--pipeline " + killed.string());
    INFO(resumed.output);
    REQUIRE(resumed.code == 0);
    const json c = read_json(tmp.path / "killed/results.json");
    CHECK(a["metrics"] == c["metrics"]);
    require_same_tree(tmp.path / "one/aux", tmp.path / "killed/aux");
  }
}
