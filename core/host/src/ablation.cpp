// Ablations in miniature: variants of one pipeline, each at several seeds (see ablation.hpp).
#include "difss/core/ablation.hpp"

#include <difss/data/atomic_file.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>

#include "difss/core/errors.hpp"
#include "difss/core/log.hpp"
#include "difss/core/pipeline.hpp"
#include "difss/core/run.hpp"
#include "difss/core/seeds.hpp"
#include "toml_read.hpp"

namespace difss {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Variant {
  std::string group, label, plot, condition;
  json condition_params, generator_params;
  int per_support = -1, shots = -1;  // -1: the base's
  double aux_weight = -1;            // < 0: the base's
  std::string slug;
};

// Lower-case letters and digits, runs of anything else as one '-' (folder names).
std::string slugify(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) o += char(std::tolower(c));
    else if (!o.empty() && o.back() != '-') o += '-';
  }
  while (!o.empty() && o.back() == '-') o.pop_back();
  return o;
}

// The [ablation] table and its [[variant]]s; every problem named by file:line:col and key.
struct AblationFile {
  fs::path base, output;
  int repeats = 3;
  std::vector<Variant> variants;
};

AblationFile read_ablation(const fs::path& file) {
  if (!fs::is_regular_file(file)) throw ConfigError(file.string() + ": ablation file not found");
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw ConfigError(file.string() + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  detail::Collector errs{file.string(), {}};
  auto where = [&](const toml::node* n) { return n ? errs.loc(n->source()) : SourceLoc{file.string(), 1, 1}; };
  AblationFile a;
  const toml::table* ab = root["ablation"].as_table();
  if (!ab) throw ConfigError(file.string() + ": no [ablation] table (pipeline, output, repeats; see docs/EMBEDDED_DEFAULT.md)");
  for (auto&& [k, v] : root)
    if (k.str() != "ablation" && k.str() != "variant") errs.add(v.source(), "unknown table '" + std::string(k.str()) + "' (expected [ablation] and [[variant]])");
  const auto pipeline = (*ab)["pipeline"].value<std::string>();
  if (!pipeline) errs.add(where(ab), "[ablation] pipeline: a string naming the base pipeline file is required");
  else a.base = fs::absolute(file).parent_path() / *pipeline;
  a.output = fs::absolute((*ab)["output"].value_or(std::string("runs/ablation")));
  a.repeats = int((*ab)["repeats"].value_or(int64_t(3)));
  if (a.repeats < 1 || a.repeats > 100) errs.add(where((*ab)["repeats"].node()), "[ablation] repeats: expected 1..100");
  const toml::array* vs = root["variant"].as_array();
  if (!vs || vs->empty()) errs.add(where(ab), "no [[variant]] entries");
  std::set<std::string> known = {"group", "label", "plot", "condition", "condition_params", "generator_params", "per_support", "shots", "aux_weight"};
  std::set<std::string> slugs;
  for (size_t i = 0; vs && i < vs->size(); ++i) {
    const toml::table* t = (*vs)[i].as_table();
    if (!t) continue;
    for (auto&& [k, v] : *t)
      if (!known.count(std::string(k.str()))) errs.add(v.source(), "[[variant]] " + std::string(k.str()) + ": unknown key (known: group, label, plot, condition, condition_params, generator_params, per_support, shots, aux_weight)");
    Variant v;
    v.group = (*t)["group"].value_or(std::string());
    v.label = (*t)["label"].value_or(std::string());
    if (v.label.empty() || v.group.empty()) errs.add(t->source(), "[[variant]]: group and label (strings) are required");
    v.plot = (*t)["plot"].value_or(std::string());
    v.condition = (*t)["condition"].value_or(std::string());
    if (const toml::node* cp = t->get("condition_params")) v.condition_params = detail::to_json(*cp);
    if (const toml::node* gp = t->get("generator_params")) v.generator_params = detail::to_json(*gp);
    v.per_support = int((*t)["per_support"].value_or(int64_t(-1)));
    v.shots = int((*t)["shots"].value_or(int64_t(-1)));
    v.aux_weight = (*t)["aux_weight"].value_or(-1.0);
    if (const toml::node* n = t->get("per_support"); n && (v.per_support < 0 || v.per_support > 64)) errs.add(n->source(), "per_support: expected 0..64");
    if (const toml::node* n = t->get("shots"); n && (v.shots < 1 || v.shots > 100)) errs.add(n->source(), "shots: expected 1..100");
    if (const toml::node* n = t->get("aux_weight"); n && !(v.aux_weight >= 0)) errs.add(n->source(), "aux_weight: expected a number >= 0");
    v.slug = slugify(v.group + "-" + v.label);
    if (!slugs.insert(v.slug).second) errs.add(t->source(), "[[variant]] '" + v.label + "' of group '" + v.group + "' appears twice");
    a.variants.push_back(v);
  }
  if (!errs.errors.empty()) {
    std::string all;
    for (const auto& e : errs.errors) all += (all.empty() ? "" : "\n") + e;
    throw ConfigError(all);
  }
  return a;
}

Pipeline variant_pipeline(const Pipeline& base, const AblationFile& a, const Variant& v, const Registry& reg) {
  Pipeline q = base;
  q.name = base.name + "-" + v.slug;
  q.output = a.output / v.slug;
  q.evaluation.repeats = a.repeats;
  if (v.shots > 0) q.dataset.shots = v.shots;
  if (v.per_support >= 0) q.aux.per_support = v.per_support;
  if (q.aux.per_support == 0) q.generator.reset();  // real supports only
  if (!v.condition.empty()) {
    if (!q.condition) throw ConfigError(base.file.string() + ": the base pipeline has no [condition] to replace");
    q.condition->plugin = v.condition;
    q.condition->raw_params = v.condition_params.is_object() ? v.condition_params : json::object();
    q.condition->param_locs.clear();
  }
  if (v.generator_params.is_object() && q.generator)
    for (auto& [k, val] : v.generator_params.items()) q.generator->raw_params[k] = val;
  if (v.aux_weight >= 0) {
    if (!q.segmenter) throw ConfigError(base.file.string() + ": the base pipeline has no [segmenter]");
    q.segmenter->raw_params["aux_weight"] = v.aux_weight;
  }
  // Variants with the same control map and generator settings share one aux store (per seed,
  // repeat_pipeline): those with fewer aux supports read the first ones.
  std::string store = q.condition ? q.condition->plugin + q.condition->raw_params.dump() : "none";
  if (q.generator) store += q.generator->raw_params.dump();
  q.aux.aux_dir = a.output / "aux" / slugify(store);
  resolve_plugins(q, reg);
  return q;
}

json read_json_file(const fs::path& f) {
  std::ifstream in(f);
  if (!in) throw std::runtime_error("no results in " + f.string());
  return json::parse(in);
}

}  // namespace

int run_ablation(const fs::path& file, const Registry& registry) {
  const AblationFile a = read_ablation(file);
  const Pipeline base = parse_pipeline(a.base);
  std::vector<Pipeline> pipelines;
  for (const auto& v : a.variants) pipelines.push_back(variant_pipeline(base, a, v, registry));  // all checked first
  // More auxiliary supports first: the variants with fewer read the first ones of the same store.
  std::vector<size_t> order(a.variants.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return pipelines[x].aux_per_support() > pipelines[y].aux_per_support(); });
  json rows = json::array();
  std::vector<json> by_variant(a.variants.size());
  for (size_t n = 0; n < order.size(); ++n) {
    const size_t i = order[n];
    logger()->info("ablation {}/{}: {} / {}", n + 1, order.size(), a.variants[i].group, a.variants[i].label);
    const RunSummary r = run(pipelines[i]);
    if (!r.ok || !r.complete) throw std::runtime_error("ablation variant '" + a.variants[i].label + "' did not finish: " + r.message);
    by_variant[i] = read_json_file(pipelines[i].output / "results.json");
  }
  for (size_t i = 0; i < a.variants.size(); ++i) {
    const Variant& v = a.variants[i];
    const Pipeline& q = pipelines[i];
    json row = {{"group", v.group}, {"label", v.label}, {"plot", v.plot}, {"folder", v.slug},
                {"per_support", q.aux_per_support()}, {"shots", q.dataset.shots},
                {"condition", q.condition ? q.condition->plugin : ""},
                {"aux_weight", q.segmenter && q.segmenter->raw_params.contains("aux_weight") ? q.segmenter->raw_params["aux_weight"] : json(1.0)}};
    const json& s = by_variant[i];
    if (a.repeats > 1) {
      row["metrics"] = s["metrics"];
      if (s.contains("aux_minus_real")) row["aux_minus_real"] = s["aux_minus_real"];
      row["seeds"] = s["seeds"];
    } else {  // one seed: the run's own metrics in the same shape
      row["metrics"] = summarize_seeds({q.seed}, {s})["metrics"];
      row["seeds"] = json::array({q.seed});
    }
    rows.push_back(row);
  }
  json results = {{"name", base.name + "-ablation"}, {"mode", "ablation"}, {"base_pipeline", a.base.string()},
                  {"repeats", a.repeats}, {"variants", rows}};
  if (by_variant.front().contains("note")) results["note"] = by_variant.front()["note"];
  fs::create_directories(a.output);
  data::write_file_atomic(a.output / "results.json", results.dump(2) + "\n");
  write_ablation_report(a.output, results);
  std::printf("\n%-40s %-14s %16s %16s\n", "variant", "", "real only mIoU", "with aux mIoU");
  std::string group;
  for (const auto& row : rows) {
    if (row["group"] != group) std::printf("%s\n", (group = row["group"].get<std::string>()).c_str());
    const json& m = row["metrics"];
    std::printf("  %-52s %16s %16s\n", row["label"].get<std::string>().c_str(),
                m.contains("real_only") ? mean_std_text(m["real_only"]).c_str() : "–",
                m.contains("with_aux") ? mean_std_text(m["with_aux"]).c_str() : "–");
  }
  std::printf("(mean ± sample std over %d seeds)\nresults: %s\nreport:  %s\n", a.repeats,
              (a.output / "results.json").string().c_str(), (a.output / "index.html").string().c_str());
  return 0;
}

}  // namespace difss
