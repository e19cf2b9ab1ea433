// `difss-host --pipeline FILE`: validate everything first (no weights loaded), then set the
// thread count once, then run. `difss-host aggregate RUN_DIR`: results from a run folder's items.
#include <difss/core/ablation.hpp>
#include <difss/core/errors.hpp>
#include <difss/core/host_services.hpp>
#include <difss/core/log.hpp>
#include <difss/core/pipeline.hpp>
#include <difss/core/run.hpp>
#include <difss/core/team.hpp>
#include <difss/core/threads.hpp>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "commands.hpp"

namespace difss::cli {

namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// `--shard auto`: the scheduler's task index and count. Slurm job arrays first (an array task
// is a process of its own), then one task of `srun -n N` (SLURM_PROCID), then a PMI launcher.
bool shard_from_scheduler(int& index, int& count, std::string& source) {
  const std::pair<const char*, const char*> pairs[] = {{"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"},
                                                       {"SLURM_PROCID", "SLURM_NTASKS"},
                                                       {"PMI_RANK", "PMI_SIZE"},
                                                       {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"}};
  for (const auto& [id, n] : pairs) {
    if (!env(id) || !env(n)) continue;
    index = std::atoi(env(id));
    count = std::atoi(env(n));
    // Array ids need not start at 0 (--array=1-8): count from the first.
    if (std::string(id) == "SLURM_ARRAY_TASK_ID" && env("SLURM_ARRAY_TASK_MIN"))
      index -= std::atoi(env("SLURM_ARRAY_TASK_MIN"));
    source = std::string(id) + "/" + n;
    return true;
  }
  return false;
}

RunOptions parse_shard(const std::string& s) {
  RunOptions o;
  if (s.empty()) return o;
  if (s == "auto") {
    std::string source;
    if (!shard_from_scheduler(o.shard_index, o.shard_count, source))
      throw ConfigError("--shard auto: no scheduler variables found (SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, "
                        "SLURM_PROCID/SLURM_NTASKS, PMI_RANK/PMI_SIZE); give --shard K/N");
    if (o.shard_count < 1 || o.shard_index < 0 || o.shard_index >= o.shard_count)
      throw ConfigError("--shard auto: " + source + " give shard " + std::to_string(o.shard_index) + " of " +
                        std::to_string(o.shard_count) + ", which is not a valid K/N");
    logger()->info("--shard auto: shard {}/{} from {}", o.shard_index, o.shard_count, source);
    return o;
  }
  auto slash = s.find('/');
  try {
    if (slash == std::string::npos) throw std::invalid_argument(s);
    o.shard_index = std::stoi(s.substr(0, slash));
    o.shard_count = std::stoi(s.substr(slash + 1));
  } catch (const std::exception&) {
    throw ConfigError("--shard: expected K/N with 0 <= K < N, or auto, got '" + s + "'");
  }
  if (o.shard_count < 1 || o.shard_index < 0 || o.shard_index >= o.shard_count)
    throw ConfigError("--shard: expected K/N with 0 <= K < N, or auto, got '" + s + "'");
  return o;
}

// Ranks on one node share its cores: without an explicit setting each takes cores / local ranks.
int threads_for_this_process(int requested) {
  if (requested > 0) return requested;
  const int local = mpi_local_size();
  if (local <= 1) return 0;  // all cores
  const int cores = int(std::thread::hardware_concurrency());
  return std::max(1, cores / local);
}

// Resolves and runs; in an MPI job an error that only this rank saw (before or after the shared
// work loop) ends the whole job, since the other ranks would wait for this one forever.
int run_resolved(Pipeline& p, const DiscoveryOptions& discovery, int threads_override, const RunOptions& options) {
  Registry reg;
  reg.discover(discovery);
  resolve_plugins(p, reg);
  if (threads_override > 0) p.threads = threads_override;
  configure_threads(threads_for_this_process(p.threads));
  install_interrupt_handler();
  RunSummary s = run(p, options);
  return s.ok ? kExitOk : kExitFailure;
}

}  // namespace

int run_pipeline(const DiscoveryOptions& discovery, const std::string& file, int threads_override,
                 const std::string& shard, bool force_restart, bool resume_anyway) {
  std::string how = shard;
  if (how.empty() && !mpi_built() && launched_by_mpi_launcher()) {
    logger()->warn("started by an MPI launcher, but difss-host was built without MPI: each process takes a "
                   "static shard (--shard auto) instead");
    how = "auto";
  }
  RunOptions options = parse_shard(how);
  if (force_restart && resume_anyway)
    throw ConfigError("--force-restart and --resume-anyway contradict each other; give one");
  options.force_restart = force_restart;
  options.resume_anyway = resume_anyway;
  Pipeline p = parse_pipeline(file);  // ConfigError -> exit 2, before anything heavy
  if (p.log_level != "info") logger()->set_level(spdlog::level::from_str(p.log_level));
  return run_resolved(p, discovery, threads_override, options);
}

int ablation(const DiscoveryOptions& discovery, const std::string& file, int threads) {
  Registry reg;
  reg.discover(discovery);
  // --threads, else one (as configs/demo.toml: the runs' bytes then do not depend on the machine's cores).
  configure_threads(threads > 0 ? threads : 1);
  install_interrupt_handler();
  return run_ablation(file, reg);
}

int aggregate(const DiscoveryOptions& discovery, const std::string& run_dir) {
  namespace fs = std::filesystem;
  const fs::path run_json = fs::path(run_dir) / "run.json";
  std::ifstream in(run_json);
  if (!in) throw ConfigError(run_dir + ": no run.json; not a difss run folder");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw ConfigError(run_json.string() + ": not valid JSON (" + e.what() + ")");
  }
  const std::string file = j.value("pipeline_file", "");
  if (file.empty())
    throw ConfigError(run_json.string() + ": names no pipeline_file (a run made before difss 0.4); "
                      "re-run `difss-host --pipeline FILE` to aggregate it");
  Pipeline p = parse_pipeline(file);
  if (fs::weakly_canonical(p.output) != fs::weakly_canonical(run_dir))
    throw ConfigError(file + ": its [pipeline] output is " + p.output.string() + ", not " + run_dir +
                      " (a moved run folder? set output back or run from where it was made)");
  RunOptions options;
  options.aggregate_only = true;
  Registry reg;
  reg.discover(discovery);
  resolve_plugins(p, reg);
  RunSummary s = run(p, options);
  if (!s.complete) {
    logger()->error("{}", s.message);
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace difss::cli
