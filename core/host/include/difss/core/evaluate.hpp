// A few-shot segmenter evaluated on a dataset, described by fields instead of a file: the tools
// (difss-fss-tool eval, the tiny models' trainer) evaluate through the runner's loop with it, so
// episodes, metrics and baselines are exactly those of `difss-host --pipeline`. It becomes a
// pipeline (TOML text: [pipeline], [dataset], [segmenter], [evaluation] grids = 0) that is
// parsed, resolved against the registry and run by run().
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "difss/core/registry.hpp"

namespace difss {

struct SegmenterEvaluation {
  std::string name = "segmenter-evaluation";
  std::string segmenter;                               // plugin id
  nlohmann::json params = nlohmann::json::object();    // as a pipeline's `params` table
  std::string dataset;                                 // [dataset] kind
  std::string root;                                    // "" = none (e.g. synthetic)
  std::string split = "val";
  int fold = 0, shots = 1;
  std::size_t episodes = 0;                            // 0 = the protocol's default
  std::uint64_t seed = 0;
  std::string support_sampling = "hsnet";
  std::map<std::string, std::string> options;          // [dataset] options
  std::filesystem::path output;                        // the run folder
  // Relative root / PATH parameters resolve against this folder (default: the current one).
  std::filesystem::path base_dir;
};

// The pipeline text of `e`.
std::string pipeline_toml(const SegmenterEvaluation& e);

// Runs it (the runner prints its table and writes results.json etc. into e.output) and returns
// results.json. ConfigError for a bad description, PluginError when the segmenter fails.
nlohmann::json evaluate_segmenter(const SegmenterEvaluation& e, const Registry& registry);

}  // namespace difss
