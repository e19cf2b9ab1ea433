// One evaluation repeated at several seeds ([evaluation] repeats), and the spread of its metrics.
//
// Each seed is a complete ordinary run (its own folder <output>/seed-<s>, aux store
// <aux_dir>/seed-<s>, results.json and report): other episodes (the supports and queries drawn)
// and other auxiliary samples. The summary gives every metric per seed and as mean +- sample
// standard deviation, plus the paired per-seed difference "with aux - real only" (the same
// episodes both ways, so its spread is smaller than either's).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <vector>

#include "difss/core/pipeline.hpp"
#include "difss/core/run.hpp"

namespace difss {

// Runs `p` at seeds p.seed .. p.seed + repeats - 1, then writes <output>/results.json
// (summarize_seeds) and <output>/index.html and prints the table. Not with --shard.
RunSummary run_repeats(const Pipeline& p, const RunOptions& options);

// The pipeline of repeat `k` (seed p.seed + k, its own output and aux folders, repeats = 1).
Pipeline repeat_pipeline(const Pipeline& p, int k);

// {"seeds": [...], "metrics": {key: {"per_seed": [{"seed", "miou", "fbiou"}], "mean_miou",
// "std_miou", "mean_fbiou", "std_fbiou"}}, "aux_minus_real": {"per_seed": [...], "mean_miou",
// "std_miou"}} from the runs' results.json documents (same order as `seeds`). std: sample
// standard deviation (n - 1), 0 for one seed.
nlohmann::json summarize_seeds(const std::vector<std::uint64_t>& seeds, const std::vector<nlohmann::json>& results);

// "55.21 ± 1.30" (percent) of a summary entry's miou or fbiou.
std::string mean_std_text(const nlohmann::json& entry, const char* which = "miou");

}  // namespace difss
