// Ablations in miniature: one TOML names a base pipeline and variants of it (auxiliary supports
// per real support, control plugin, real shots, the segmenter's aux_weight); each variant runs at
// several seeds ([evaluation] repeats, seeds.hpp) and the results become one table, a plot of
// mIoU against the number of auxiliary supports (PNG, drawn with OpenCV) and an index.html.
//
//   [ablation]
//   pipeline = "demo.toml"     # the base (relative to this file)
//   output = "runs/ablation"   # relative to the current directory
//   repeats = 3                # seeds: the base's seed, +1, +2
//   [[variant]]
//   group = "auxiliary supports per real support"   # rows are grouped by this
//   label = "4 aux"
//   per_support = 4            # optional: [generator] per_support (0 = real supports only)
//   condition = "org.difss.condition.mask-scribble"  # optional: another [condition] plugin ...
//   condition_params = { resolution = 0 }             # ... and its parameters
//   generator_params = { guidance = 1.0 }             # optional: [generator] params set on top
//   shots = 5                  # optional: [dataset] shots
//   aux_weight = 0.25          # optional: the segmenter's aux_weight parameter
//   plot = "equal vote"        # optional: a line of the plot (x = per_support)
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>

#include "difss/core/registry.hpp"

namespace difss {

// Runs every variant (those with more auxiliary supports per condition first, so the others
// reuse their stored images), then writes <output>/results.json, ablation.png and index.html and
// prints the table. ConfigError for a bad file, naming the file and key.
int run_ablation(const std::filesystem::path& file, const Registry& registry);

// The table, plot and page from the ablation's results.json content.
void write_ablation_report(const std::filesystem::path& dir, const nlohmann::json& results);

}  // namespace difss
