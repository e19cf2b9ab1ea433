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
int validate(const Registry& reg, const std::string& file);
int print_pipeline_keys();
int bench(const std::string& which, const std::vector<std::string>& args);
int train(const std::vector<std::string>& args);
int run_pipeline(const DiscoveryOptions& discovery, const std::string& file, int threads_override,
                 const std::string& shard);

}  // namespace difss::cli
