// The difss-host subcommands. Each returns the process exit code (see docs/CLI.md):
//   0 success, 1 a run or plugin call failed, 2 invalid command line or pipeline, 130 cancelled.
#pragma once

#include <difss/core/registry.hpp>

#include <string>
#include <vector>

#include <difss/core/errors.hpp>

namespace difss::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitConfig = 2;
constexpr int kExitCancelled = 130;

int plugins_list(const Registry& reg, bool verbose);
int plugins_inspect(const Registry& reg, const std::string& id);
int validate(const Registry& reg, const std::string& file, bool check_data = true);
int dataset_inspect(const std::string& file);
int print_pipeline_keys();

// `difss-host bench ID [options]` (see cmd_bench.cpp).
struct BenchOptions {
  std::string id;
  int runs = 10, warmup = 1, threads = 0, shots = 1;
  int images = 1;              // images per sampler call (--images)
  bool shots_given = false;    // --shots written (else a pipeline's [dataset] shots)
  std::string size = "512x512";
  std::vector<std::string> params;  // "name=value"
  std::string pipeline;             // inputs and parameters from this pipeline
};
int bench(const DiscoveryOptions& discovery, const BenchOptions& options);
int run_pipeline(const DiscoveryOptions& discovery, const std::string& file, int threads_override,
                 const std::string& shard, bool force_restart = false, bool resume_anyway = false);
// `difss-host aggregate RUN_DIR`: results.json, CSV and report from the run folder's finished items.
int aggregate(const DiscoveryOptions& discovery, const std::string& run_dir);
// `difss-host ablation FILE` (core/host ablation.hpp); threads: --threads (0 = one thread).
int ablation(const DiscoveryOptions& discovery, const std::string& file, int threads);

}  // namespace difss::cli
