// Re-running the training commands with their seeds reproduces the committed manifests' short
// "reproducibility check" runs (same seed, data order and settings; single-threaded).
#include "catch_torch.hpp"

#include <difss/train/train.hpp>

#include <nlohmann/json.hpp>

#include <fstream>

using namespace difss::train;

namespace {
nlohmann::json read(const char* path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

// The re-run's first, mean and last loss equal the manifest's record within its tolerance.
void check_reproduced(const LossLog& log, const nlohmann::json& rc) {
  const double tol = rc["tolerance_rel"];
  CHECK(log.loss.front() == Approx(rc["first_loss"].get<double>()).epsilon(tol));
  CHECK(log.mean_last(int(log.loss.size())) == Approx(rc["mean_loss"].get<double>()).epsilon(tol));
  CHECK(log.loss.back() == Approx(rc["last_loss"].get<double>()).epsilon(tol));
}

}  // namespace

TEST_CASE("train diffusion: the manifest's reproducibility check comes out the same", "[train][tiny][slow]") {
  const auto manifest = read(TINY_CONTROLNET_MANIFEST);
  const auto rc = manifest["reproducibility_check"];
  DiffusionTrainOptions o;
  o.seed = rc["seed"];
  o.steps = rc["steps"];
  o.batch = rc["batch"];
  o.lr = rc["lr"];
  o.size = rc["size"];
  o.threads = 1;
  o.eval_supports = 0;
  const auto r = train_diffusion(o);
  // (A diffusion step's loss depends on the timesteps it drew, so 30 steps need not go down.)
  check_reproduced(r.log, rc);
}

TEST_CASE("train fss: the manifest's reproducibility check comes out the same", "[train][tiny][slow]") {
  const auto rc = read(TINY_FSS_MANIFEST)["reproducibility_check"];
  FssTrainOptions o;
  o.seed = rc["seed"];
  o.steps = rc["steps"];
  o.batch = rc["batch"];
  o.lr = rc["lr"];
  o.size = rc["size"];
  o.fold = rc["fold"];
  o.threads = 1;
  o.eval_episodes = 0;
  const auto r = train_fss(o);
  check_reproduced(r.log, rc);
  CHECK(r.log.mean_last(5) < r.log.loss.front());
}

TEST_CASE("train fss: evaluating the committed model through the runner gives the manifest's numbers", "[train][tiny]") {
  // The trainer's evaluation is the host's runner over the tiny-fss plugin (found on
  // DIFSS_PLUGIN_PATH, which ctest sets): the numbers the committed manifest recorded.
  const auto m = read(TINY_FSS_MANIFEST);
  const FssEvaluation ev = evaluate_fss_checkpoint(TINY_FSS_MODEL, m["data"]["fold"], m["evaluation"]["episodes"]);
  INFO("novel mIoU " << ev.novel_miou << " FB-IoU " << ev.novel_fbiou << " base mIoU " << ev.base_miou);
  CHECK(ev.novel_miou == Approx(m["evaluation"]["novel_miou"].get<double>()).margin(5e-5));
  CHECK(ev.novel_fbiou == Approx(m["evaluation"]["novel_fbiou"].get<double>()).margin(5e-5));
  CHECK(ev.base_miou == Approx(m["evaluation"]["base_miou"].get<double>()).margin(5e-5));
  CHECK(ev.novel_per_class.size() == 5);
}

TEST_CASE("train: bad arguments are refused with exit code 2", "[train]") {
  const char* a1[] = {"diffusion", "--steps", "zero"};
  CHECK(run_train(3, const_cast<char**>(a1)) == 2);
  const char* a2[] = {"fss", "--bogus", "1"};
  CHECK(run_train(3, const_cast<char**>(a2)) == 2);
  const char* a3[] = {"gan"};
  CHECK(run_train(1, const_cast<char**>(a3)) == 2);
  const char* a4[] = {"fss", "--fold", "7"};
  CHECK(run_train(3, const_cast<char**>(a4)) == 2);
}
