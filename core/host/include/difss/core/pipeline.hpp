// TOML pipelines: parsed, then validated against the plugins' schemas before anything heavy
// runs. Every problem is reported as `file:line:col: message`; all problems of a file are
// reported together. Unknown keys are errors with a did-you-mean. Defaults are filled and the
// resolved pipeline is echoed into the run's output (resolved_json) so a run can be reproduced
// from its own record.
//
// Relative paths: PATH parameters and [dataset] root/split_dir resolve against the pipeline
// file's folder; [pipeline] output resolves against the current directory.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "difss/core/registry.hpp"
#include "difss/core/schema.hpp"

namespace difss {

struct SourceLoc {
  std::string file;
  int line = 0, col = 0;
  std::string str() const;  // "file:line:col"
};

// A [condition], [generator] or [segmenter] section.
struct PluginStage {
  std::string section;  // "condition", ...
  std::string plugin;
  SourceLoc loc;        // of the `plugin` key
  nlohmann::json raw_params = nlohmann::json::object();  // as written
  std::map<std::string, SourceLoc> param_locs;
  const PluginInfo* info = nullptr;  // set by resolve_plugins
  ResolvedParams params;             // set by resolve_plugins
  nlohmann::json extra = nlohmann::json::object();  // host-level keys of the section (e.g. aux_dir)
};

struct Pipeline {
  std::filesystem::path file;  // absolute
  std::string name;
  std::string mode = "evaluate";  // "evaluate" | "generate"
  uint64_t seed = 0;
  std::filesystem::path output;   // absolute
  int threads = 0;                // 0 = all cores
  std::string on_error = "stop";  // "stop" | "skip"
  std::string log_level = "info";

  nlohmann::json dataset = nlohmann::json::object();  // [dataset] as written (+ resolved paths)
  std::map<std::string, SourceLoc> dataset_locs;
  nlohmann::json evaluation = nlohmann::json::object();  // [evaluation], defaults filled
  std::map<std::string, SourceLoc> evaluation_locs;

  std::optional<PluginStage> condition, generator, segmenter;

  // The pipeline with every default filled: written to results.json / resolved.toml.
  nlohmann::json resolved_json() const;
  // Where a [dataset]/[evaluation]/... key was written, for messages ("file:line:col: ").
  std::string where(const std::string& section, const std::string& key) const;
};

// Parses and checks structure, types and unknown keys (no plugins needed).
// Throws ConfigError listing every problem.
Pipeline parse_pipeline(const std::filesystem::path& file);
Pipeline parse_pipeline_string(const std::string& text, const std::filesystem::path& name);

// Resolves plugin ids against the registry and checks parameters against their schemas
// (type, range, enum, required, unknown) and that connected ports agree. Loads no weights.
void resolve_plugins(Pipeline& p, const Registry& registry);

// Checks `raw` parameters (as written in TOML, converted to JSON) against a plugin's schema:
// unknown names, types, ranges, enums, required ones; fills defaults; resolves relative PATH
// values against `base_dir`. Problems are appended to `errors` as "<loc>: message" using
// `locs` (key -> where it was written) and `where` for missing ones.
ResolvedParams resolve_params(const Descriptor& d, const nlohmann::json& raw,
                              const std::map<std::string, SourceLoc>& locs, const SourceLoc& where,
                              const std::filesystem::path& base_dir, std::vector<std::string>& errors);

// Reference of the host-level keys, for docs and `difss-host validate --keys`.
struct KeySpec {
  std::string section, key, type, default_value, doc;
};
const std::vector<KeySpec>& pipeline_keys();

}  // namespace difss
