// Running a resolved pipeline: dataset -> condition -> generator (or an existing aux store)
// -> segmenter -> metrics -> results.json, episodes.csv, grids, index.html.
#pragma once

#include <filesystem>
#include <string>

#include "difss/core/pipeline.hpp"

namespace difss {

struct RunSummary {
  bool ok = false;
  std::filesystem::path output;
  std::string message;
};

// Runs `p` (already resolved against a registry). Resumable: finished items are skipped.
RunSummary run(const Pipeline& p);

}  // namespace difss
