// Running a resolved pipeline.
//
// evaluate: dataset -> episodes -> (condition -> sampler, or an existing aux store) -> segmenter
//           with real supports only and with real + auxiliary supports -> metrics.
// generate: for every (image, class) pair of the split, write `per_support` auxiliary images
//           (and the control map) into the aux store, without segmenting.
//
// Outputs under the run directory: run.json (identity of the pipeline), episodes.json (the
// episode list), episodes/NNNNNN.json (one record per finished episode), episodes.csv,
// results.json, grids/*.png, index.html, run.log, and aux/ (the DifFSS-named store).
//
// Work items are addressable by index; per-item seeds derive from the pipeline seed and the
// item's identity (never from processing order); metrics are integer sums that merge exactly.
// Every file is written atomically (temporary file, then rename); re-running skips finished
// items, and stale temporary files of a killed run are removed. Who does which item is a Team's
// business (team.hpp): this process alone; a static `shard` (index % count == shard index) of a
// run shared through its folder by several processes or machines; or, under mpirun/srun, every
// rank of an MPI job taking items as it becomes free. Results never depend on the team.
#pragma once

#include <filesystem>
#include <string>

#include "difss/core/pipeline.hpp"

namespace difss {

struct RunOptions {
  int shard_index = 0;
  int shard_count = 1;
  // A run folder records its inputs (inputs.json: every image and mask, every plugin file
  // parameter, with size and modification time). A re-run whose inputs changed is refused unless
  // one of these says otherwise: force_restart empties the run folder first; resume_anyway keeps
  // the finished items and records the new inputs.
  bool force_restart = false;
  bool resume_anyway = false;
  // Under an MPI launcher (and built with MPI): share the run among the job's ranks.
  bool use_mpi = true;
  // Write results.json, the CSV and the report from the finished items in the run folder,
  // without loading plugins or running anything (`difss-host aggregate RUN_DIR`).
  bool aggregate_only = false;
};

struct RunSummary {
  bool ok = false;        // all items done (or skipped by on_error = "skip") and results written
  bool complete = false;  // every shard's items are present (results.json written)
  std::filesystem::path output;
  std::string message;
};

// Runs `p` (already resolved against a registry).
RunSummary run(const Pipeline& p, const RunOptions& options = {});

// A 64-bit seed for a work item, derived from the pipeline seed and the item's key
// (SplitMix64 over FNV-1a of the key); stable across machines and processing orders.
uint64_t item_seed(uint64_t pipeline_seed, const std::string& item_key);

}  // namespace difss
