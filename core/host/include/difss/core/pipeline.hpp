// TOML pipelines: parsed, then validated against the plugins' schemas before anything heavy
// runs. Every problem is reported as `file:line:col: message`; all problems of a file are
// reported together. Unknown keys are errors with a did-you-mean. Defaults are filled and the
// resolved pipeline is echoed into the run's output (resolved_json) so a run can be reproduced
// from its own record.
//
// Relative paths: PATH parameters, [dataset] root/split_dir and [generator] aux_dir resolve
// against the pipeline file's folder; [pipeline] output resolves against the current directory.
// A Pipeline with every default and nothing else: parse_pipeline_string("", file).
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

// A [condition], [generator] or [segmenter] section: the plugin and its parameters.
struct PluginStage {
  std::string section;  // "condition", ...
  std::string plugin;
  SourceLoc loc;        // of the `plugin` key
  nlohmann::json raw_params = nlohmann::json::object();  // as written
  std::map<std::string, SourceLoc> param_locs;
  const PluginInfo* info = nullptr;  // set by resolve_plugins
  ResolvedParams params;             // set by resolve_plugins
};

// The host-level sections as typed values. parse_pipeline fills every field from the one key
// table (pipeline_keys.cpp: type, default, check and doc of each key); the members are only
// zero-initialised, so each default exists in one place: the table.

// [pipeline]
struct PipelineSection {
  std::string name;
  std::string mode;              // "evaluate" | "generate"
  uint64_t seed = 0;
  std::filesystem::path output;  // absolute
  int threads = 0;               // 0 = all cores
  std::string on_error;          // "stop" | "skip"
  std::string log_level;
};

// [dataset]
struct DatasetSection {
  std::string kind;
  std::string root, split_dir;  // absolute when given ("" = not given)
  int fold = 0;
  std::string split;
  int shots = 0;
  size_t episodes = 0;  // 0 = the protocol's default
  std::string episodes_file;  // absolute when given: a fixed episode list ("" = drawn)
  std::string support_sampling;
  nlohmann::json options = nlohmann::json::object();  // reader-specific, checked by the reader
};

// The host's keys of [generator]: how many auxiliary supports, where they are stored, and the
// texts the sampler receives (the pipeline owns the prompt and the negative prompt; samplers
// get the final texts and add nothing).
struct GeneratorSection {
  int per_support = 0;
  std::filesystem::path aux_dir;  // absolute
  std::string prompt;             // template; {class} is replaced by the class name
  std::string negative_prompt;
  bool official_bugs = false;     // FSSpregenerate.py's FSS-1000 class name in the prompt
};

// [evaluation]
struct EvaluationSection {
  std::string protocol;   // a bundle of protocol.hpp ("none" | "hsnet" | ...)
  std::string protocol_lists;  // absolute when given: BAM's fss_list/val folder
  std::string eval_size;  // "label" | "model_input" | "input" (evaluation_size.hpp)
  bool compare_without_aux = false;
  int grids = 0;
  int input_size = 0;
  int repeats = 0;        // > 1: run at seeds seed .. seed + repeats - 1 (seeds.hpp)
};

// A pipeline. Its [pipeline] keys are members (p.name, p.seed, ...) through PipelineSection.
struct Pipeline : PipelineSection {
  std::filesystem::path file;  // absolute

  DatasetSection dataset;
  GeneratorSection aux;  // meaningful when `generator` is set
  EvaluationSection evaluation;
  std::map<std::string, SourceLoc> key_locs;  // "section.key" -> where it was written

  std::optional<PluginStage> condition, generator, segmenter;

  // Auxiliary images per real support: [generator] per_support, 0 without a [generator].
  int aux_per_support() const { return generator ? aux.per_support : 0; }
  // The final texts the sampler receives for a class.
  std::string prompt_for(const std::string& class_name) const;
  // The class name the prompt says for a class of `class_set`: its own, or under [generator]
  // official_bugs (or the [condition]'s official_bugs parameter) FSSpregenerate.py's "taxi" for
  // every FSS-1000 class.
  std::string prompt_class_name(const std::string& class_name, const std::string& class_set) const;
  const std::string& negative_prompt() const { return aux.negative_prompt; }

  // The pipeline with every default filled: written to results.json / resolved.toml.
  nlohmann::json resolved_json() const;
  // Where a host-level key was written, for messages ("file:line:col"; file:1:1 when absent).
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

// The host-level keys, as the key table defines them: for docs and `difss-host validate --keys`.
struct KeySpec {
  std::string section, key, type, default_value, check, doc;
};
const std::vector<KeySpec>& pipeline_keys();
// pipeline_keys() as the Markdown tables of docs/CONFIG_REFERENCE.md, one per section.
std::string pipeline_keys_markdown();

}  // namespace difss
