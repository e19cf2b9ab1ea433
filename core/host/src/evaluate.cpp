#include "difss/core/evaluate.hpp"

#include <fstream>
#include <sstream>

#include "difss/core/errors.hpp"
#include "difss/core/pipeline.hpp"
#include "difss/core/run.hpp"

namespace fs = std::filesystem;

namespace difss {

namespace {

// A TOML basic string / quoted key (JSON's string escapes are valid TOML).
std::string quoted(const std::string& s) { return nlohmann::json(s).dump(); }

// A JSON object of scalars as a TOML inline table.
std::string inline_table(const nlohmann::json& j) {
  std::string t = "{";
  for (const auto& [k, v] : j.items()) {
    if (!v.is_primitive() || v.is_null())
      throw ConfigError("segmenter parameter '" + k + "': expected a bool, number or string");
    t += (t.size() > 1 ? ", " : " ") + quoted(k) + " = " + v.dump();
  }
  return t + (t.size() > 1 ? " }" : "}");
}

}  // namespace

std::string pipeline_toml(const SegmenterEvaluation& e) {
  std::ostringstream t;
  t << "[pipeline]\nname = " << quoted(e.name) << "\nseed = " << e.seed << "\noutput = " << quoted(e.output.string())
    << "\n\n[dataset]\nkind = " << quoted(e.dataset) << "\n";
  if (!e.root.empty()) t << "root = " << quoted(e.root) << "\n";
  t << "split = " << quoted(e.split) << "\nfold = " << e.fold << "\nshots = " << e.shots << "\nepisodes = " << e.episodes
    << "\nsupport_sampling = " << quoted(e.support_sampling) << "\n";
  if (!e.options.empty()) {
    nlohmann::json o(e.options);
    t << "options = " << inline_table(o) << "\n";
  }
  t << "\n[segmenter]\nplugin = " << quoted(e.segmenter) << "\nparams = " << inline_table(e.params)
    << "\n\n[evaluation]\ngrids = 0\n";
  return t.str();
}

nlohmann::json evaluate_segmenter(const SegmenterEvaluation& e, const Registry& registry) {
  const fs::path base = e.base_dir.empty() ? fs::current_path() : e.base_dir;
  Pipeline p = parse_pipeline_string(pipeline_toml(e), base / (e.name + ".toml"));
  resolve_plugins(p, registry);
  const RunSummary s = run(p);
  if (!s.ok || !s.complete) throw std::runtime_error(e.name + ": the evaluation did not finish: " + s.message);
  std::ifstream in(s.output / "results.json");
  return nlohmann::json::parse(in);
}

}  // namespace difss
