#include "difss/core/pipeline.hpp"

#include <toml++/toml.h>

#include <cmath>
#include <set>
#include <sstream>

#include "difss/core/errors.hpp"
#include "difss/core/suggest.hpp"

namespace fs = std::filesystem;

namespace difss {

std::string SourceLoc::str() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(col);
}

namespace {

// The host-level schema of a pipeline file. Plugin parameters are checked against each
// plugin's own schema; [dataset] keys beyond these are checked by the dataset reader.
const std::vector<KeySpec> kKeys = {
    {"pipeline", "name", "string", "<file stem>", "Name of the run."},
    {"pipeline", "mode", "enum {evaluate, generate}", "evaluate",
     "evaluate: episodes -> metrics; generate: write auxiliary supports for every (image, class) pair."},
    {"pipeline", "seed", "int", "0", "Seed of every random choice (episodes, per-item diffusion seeds)."},
    {"pipeline", "output", "string", "runs/<name>", "Run directory (relative to the current directory)."},
    {"pipeline", "threads", "int", "0", "Intra-op threads (0 = all cores); set once at start-up."},
    {"pipeline", "on_error", "enum {stop, skip}", "stop",
     "stop: an unreadable item stops the run; skip: it is logged, skipped and counted."},
    {"pipeline", "log_level", "enum {trace, debug, info, warn, error}", "info", "Console log level."},
    {"dataset", "kind", "string", "(required)", "Dataset reader: pascal5i, coco20i, fss1000, folder, yolo-seg, synthetic."},
    {"dataset", "root", "path", "", "Dataset folder (relative to the pipeline file)."},
    {"dataset", "fold", "int", "0", "Fold whose classes are evaluated."},
    {"dataset", "split", "string", "val", "Split: trn, val or test."},
    {"dataset", "split_dir", "path", "", "A copy of HSNet's data/splits (optional)."},
    {"dataset", "shots", "int", "1", "Real supports per episode (K)."},
    {"dataset", "episodes", "int", "0", "Episodes (0 = the protocol's default: 1000, or 2400 for FSS-1000)."},
    {"dataset", "support_sampling", "enum {hsnet, distinct}", "hsnet",
     "hsnet: K independent draws among the class's other images, as HSNet (duplicates possible); "
     "distinct: K different images."},
    {"dataset", "options", "table", "{}", "Reader-specific options (see docs/CONFIG_REFERENCE.md)."},
    {"condition", "plugin", "string", "(required)", "Condition-generator plugin id."},
    {"condition", "params", "table", "{}", "Its parameters (see `difss-host plugins inspect ID`)."},
    {"generator", "plugin", "string", "", "Sampler plugin id (omit to only read aux_dir)."},
    {"generator", "params", "table", "{}", "Its parameters."},
    {"generator", "per_support", "int", "4", "Auxiliary images per real support."},
    {"generator", "aux_dir", "path", "<output>/aux", "Auxiliary-support store (DifFSS naming); existing images are reused."},
    {"generator", "prompt", "string", "a real shot photo of {class}, best quality, extremely detailed",
     "Prompt template; {class} is replaced by the class name."},
    {"generator", "negative_prompt", "string",
     "longbody, lowres, bad anatomy, bad hands, missing fingers, extra digit, fewer digits, cropped, worst quality, low quality",
     "Negative prompt."},
    {"segmenter", "plugin", "string", "(required for evaluate)", "Segmenter plugin id."},
    {"segmenter", "params", "table", "{}", "Its parameters."},
    {"evaluation", "eval_size", "enum {label, input}", "label",
     "Compare predictions at the original label size or at the model's input size."},
    {"evaluation", "compare_without_aux", "bool", "true",
     "Also segment with the real supports only, to report mIoU with and without auxiliary supports."},
    {"evaluation", "grids", "int", "8", "Episodes drawn as PNG grids in the report."},
    {"evaluation", "input_size", "int", "400",
     "Side of the square the masks are resized to when eval_size = \"input\" (HSNet: 400)."},
};

struct Collector {
  std::string file;
  std::vector<std::string> errors;
  SourceLoc loc(const toml::source_region& r) const {
    return SourceLoc{file, int(r.begin.line), int(r.begin.column)};
  }
  void add(const toml::source_region& r, const std::string& msg) {
    errors.push_back(loc(r).str() + ": " + msg);
  }
  void add(const SourceLoc& l, const std::string& msg) { errors.push_back(l.str() + ": " + msg); }
};

nlohmann::json to_json(const toml::node& n) {
  if (auto v = n.as_string()) return v->get();
  if (auto v = n.as_integer()) return v->get();
  if (auto v = n.as_floating_point()) return v->get();
  if (auto v = n.as_boolean()) return v->get();
  if (auto a = n.as_array()) {
    nlohmann::json j = nlohmann::json::array();
    for (auto& e : *a) j.push_back(to_json(e));
    return j;
  }
  if (auto t = n.as_table()) {
    nlohmann::json j = nlohmann::json::object();
    for (auto&& [k, v] : *t) j[std::string(k.str())] = to_json(v);
    return j;
  }
  if (auto v = n.as_date()) {
    std::ostringstream os;
    os << *v;
    return os.str();
  }
  return "(date/time)";  // times and date-times are not used by any difss key
}

const char* toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "int";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "bool";
    case toml::node_type::array: return "array";
    case toml::node_type::table: return "table";
    default: return "date/time";
  }
}

std::vector<std::string> keys_of(const std::string& section) {
  std::vector<std::string> out;
  for (const auto& k : kKeys)
    if (k.section == section) out.push_back(k.key);
  return out;
}

bool known_key(const std::string& section, const std::string& key) {
  for (const auto& k : kKeys)
    if (k.section == section && k.key == key) return true;
  return false;
}

// Reads an optional typed host-level value, recording a located error on type mismatch.
template <class T>
std::optional<T> read(Collector& c, const toml::table& t, const char* key, const char* expected) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (auto v = n->value<T>()) {
    if constexpr (std::is_same_v<T, int64_t>) {
      if (!n->is_integer()) {
        c.add(n->source(), std::string("'") + key + "' must be " + expected + ", got " + toml_type_name(*n));
        return std::nullopt;
      }
    }
    if constexpr (std::is_same_v<T, std::string>) {
      if (!n->is_string()) {
        c.add(n->source(), std::string("'") + key + "' must be " + expected + ", got " + toml_type_name(*n));
        return std::nullopt;
      }
    }
    return *v;
  }
  c.add(n->source(), std::string("'") + key + "' must be " + expected + ", got " + toml_type_name(*n));
  return std::nullopt;
}

void check_enum(Collector& c, const toml::table& t, const char* key, const std::string& value,
                const std::vector<std::string>& allowed) {
  for (const auto& a : allowed)
    if (a == value) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  c.add(t.get(key)->source(), std::string("'") + key + "' is \"" + value + "\"; expected one of: " +
                                  list + did_you_mean(value, allowed));
}

void check_unknown_keys(Collector& c, const toml::table& t, const std::string& section) {
  for (auto&& [k, v] : t) {
    std::string key(k.str());
    if (!known_key(section, key))
      c.add(k.source(), "unknown key '" + key + "' in [" + section + "]" +
                            did_you_mean(key, keys_of(section)));
  }
}

void read_stage(Collector& c, const toml::table& root, const char* section,
                std::optional<PluginStage>& out) {
  const toml::node* n = root.get(section);
  if (!n) return;
  const toml::table* t = n->as_table();
  if (!t) {
    c.add(n->source(), std::string("[") + section + "] must be a table");
    return;
  }
  check_unknown_keys(c, *t, section);
  PluginStage st;
  st.section = section;
  st.loc = c.loc(t->source());
  if (auto p = read<std::string>(c, *t, "plugin", "a plugin id string")) {
    st.plugin = *p;
    st.loc = c.loc(t->get("plugin")->source());
  }
  if (const toml::node* pn = t->get("params")) {
    if (const toml::table* pt = pn->as_table()) {
      for (auto&& [k, v] : *pt) {
        st.raw_params[std::string(k.str())] = to_json(v);
        st.param_locs[std::string(k.str())] = c.loc(v.source());
      }
    } else {
      c.add(pn->source(), std::string("[") + section + "] params must be a table");
    }
  }
  for (auto&& [k, v] : *t) {
    std::string key(k.str());
    if (key != "plugin" && key != "params") {
      st.extra[key] = to_json(v);
      st.param_locs["@" + key] = c.loc(v.source());
    }
  }
  out = std::move(st);
}

Pipeline parse_table(const toml::table& root, const fs::path& file) {
  Collector c{file.string(), {}};
  Pipeline p;
  p.file = file;
  p.name = file.stem().string();
  for (auto&& [k, v] : root) {
    std::string key(k.str());
    static const std::vector<std::string> sections{"pipeline", "dataset", "condition", "generator",
                                                   "segmenter", "evaluation"};
    if (std::find(sections.begin(), sections.end(), key) == sections.end())
      c.add(k.source(), "unknown section [" + key + "]" + did_you_mean(key, sections));
    else if (!v.is_table())
      c.add(v.source(), "[" + key + "] must be a table");
  }

  if (auto* t = root["pipeline"].as_table()) {
    check_unknown_keys(c, *t, "pipeline");
    if (auto v = read<std::string>(c, *t, "name", "a string")) p.name = *v;
    if (auto v = read<std::string>(c, *t, "mode", "a string")) {
      check_enum(c, *t, "mode", *v, {"evaluate", "generate"});
      p.mode = *v;
    }
    if (auto v = read<int64_t>(c, *t, "seed", "an integer")) {
      if (*v < 0) c.add(t->get("seed")->source(), "'seed' must be >= 0");
      p.seed = uint64_t(*v);
    }
    if (auto v = read<std::string>(c, *t, "output", "a string")) p.output = *v;
    if (auto v = read<int64_t>(c, *t, "threads", "an integer")) {
      if (*v < 0 || *v > 1024) c.add(t->get("threads")->source(), "'threads' must be in [0, 1024]");
      p.threads = int(*v);
    }
    if (auto v = read<std::string>(c, *t, "on_error", "a string")) {
      check_enum(c, *t, "on_error", *v, {"stop", "skip"});
      p.on_error = *v;
    }
    if (auto v = read<std::string>(c, *t, "log_level", "a string")) {
      check_enum(c, *t, "log_level", *v, {"trace", "debug", "info", "warn", "error"});
      p.log_level = *v;
    }
  }
  if (p.output.empty()) p.output = fs::path("runs") / p.name;
  p.output = fs::absolute(p.output).lexically_normal();

  if (auto* t = root["dataset"].as_table()) {
    check_unknown_keys(c, *t, "dataset");
    for (auto&& [k, v] : *t) {
      p.dataset[std::string(k.str())] = to_json(v);
      p.dataset_locs[std::string(k.str())] = c.loc(v.source());
    }
    read<std::string>(c, *t, "kind", "a string");
    for (const char* key : {"root", "split_dir"})
      if (auto v = read<std::string>(c, *t, key, "a path string"); v && !v->empty())
        p.dataset[key] = (file.parent_path() / *v).lexically_normal().string();
    read<std::string>(c, *t, "split", "a string");
    for (const char* key : {"fold", "shots", "episodes"})
      if (auto v = read<int64_t>(c, *t, key, "an integer"); v && *v < 0)
        c.add(t->get(key)->source(), std::string("'") + key + "' must be >= 0");
    if (auto v = read<int64_t>(c, *t, "shots", "an integer"); v && *v < 1)
      c.add(t->get("shots")->source(), "'shots' must be >= 1");
    if (auto v = read<std::string>(c, *t, "support_sampling", "a string"))
      check_enum(c, *t, "support_sampling", *v, {"hsnet", "distinct"});
    if (const toml::node* o = t->get("options"); o && !o->is_table())
      c.add(o->source(), "'options' must be a table");
  }
  p.dataset.emplace("fold", 0);
  p.dataset.emplace("split", "val");
  p.dataset.emplace("shots", 1);
  p.dataset.emplace("episodes", 0);
  p.dataset.emplace("support_sampling", "hsnet");

  if (auto* t = root["evaluation"].as_table()) {
    check_unknown_keys(c, *t, "evaluation");
    if (auto v = read<std::string>(c, *t, "eval_size", "a string"))
      check_enum(c, *t, "eval_size", *v, {"label", "input"});
    read<bool>(c, *t, "compare_without_aux", "a boolean");
    if (auto v = read<int64_t>(c, *t, "grids", "an integer"); v && *v < 0)
      c.add(t->get("grids")->source(), "'grids' must be >= 0");
    if (auto v = read<int64_t>(c, *t, "input_size", "an integer"); v && (*v < 8 || *v > 4096))
      c.add(t->get("input_size")->source(), "'input_size' must be in [8, 4096]");
    for (auto&& [k, v] : *t) {
      p.evaluation[std::string(k.str())] = to_json(v);
      p.evaluation_locs[std::string(k.str())] = c.loc(v.source());
    }
  }
  p.evaluation.emplace("eval_size", "label");
  p.evaluation.emplace("compare_without_aux", true);
  p.evaluation.emplace("grids", 8);

  read_stage(c, root, "condition", p.condition);
  read_stage(c, root, "generator", p.generator);
  read_stage(c, root, "segmenter", p.segmenter);
  if (p.generator) {
    auto& ex = p.generator->extra;
    auto gen_loc = p.generator->param_locs;
    if (ex.contains("per_support") && (!ex["per_support"].is_number_integer() || ex["per_support"].get<int64_t>() < 0 || ex["per_support"].get<int64_t>() > 64))
      c.add(gen_loc["@per_support"], "'per_support' must be an integer in [0, 64]");
    for (const char* key : {"aux_dir", "prompt", "negative_prompt"})
      if (ex.contains(key) && !ex[key].is_string()) c.add(gen_loc[std::string("@") + key], std::string("'") + key + "' must be a string");
    if (ex.contains("aux_dir") && ex["aux_dir"].is_string())
      ex["aux_dir"] = (file.parent_path() / ex["aux_dir"].get<std::string>()).lexically_normal().string();
    ex.emplace("per_support", 4);
    ex.emplace("prompt", "a real shot photo of {class}, best quality, extremely detailed");
    ex.emplace("negative_prompt",
               "longbody, lowres, bad anatomy, bad hands, missing fingers, extra digit, fewer "
               "digits, cropped, worst quality, low quality");
  }
  for (auto* st : {&p.condition, &p.generator, &p.segmenter})
    if (*st && (*st)->plugin.empty() && (*st)->section != "generator")
      c.add((*st)->loc, "[" + (*st)->section + "] needs 'plugin = \"<id>\"'");

  if (!c.errors.empty()) {
    std::string msg;
    for (const auto& e : c.errors) msg += (msg.empty() ? "" : "\n") + e;
    throw ConfigError(msg);
  }
  return p;
}

}  // namespace

Pipeline parse_pipeline(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw ConfigError(file.string() + ": pipeline file not found");
  fs::path abs = fs::absolute(file).lexically_normal();
  try {
    toml::table root = toml::parse_file(abs.string());
    return parse_table(root, abs);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw ConfigError(abs.string() + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) +
                      ": " + std::string(e.description()));
  }
}

Pipeline parse_pipeline_string(const std::string& text, const fs::path& name) {
  fs::path abs = fs::absolute(name).lexically_normal();
  try {
    toml::table root = toml::parse(text, abs.string());
    return parse_table(root, abs);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw ConfigError(abs.string() + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) +
                      ": " + std::string(e.description()));
  }
}

namespace {

// Converts a TOML-born JSON value to the schema's type; empty string = OK, else the problem.
std::string convert(const difss_param_info& s, const nlohmann::json& j, sdk::Value& out,
                    const fs::path& base) {
  out.type = s.type;
  auto got = [&]() -> std::string {
    if (j.is_boolean()) return "bool";
    if (j.is_number_integer()) return "int";
    if (j.is_number_float()) return "float";
    if (j.is_string()) return "string";
    if (j.is_array()) return "array";
    return "table";
  };
  switch (s.type) {
    case DIFSS_PARAM_BOOL:
      if (!j.is_boolean()) return "expected bool, got " + got();
      out.b = j.get<bool>();
      return "";
    case DIFSS_PARAM_INT:
      if (!j.is_number_integer()) return "expected int, got " + got();
      out.i = j.get<int64_t>();
      break;
    case DIFSS_PARAM_FLOAT:
      if (!j.is_number()) return "expected float, got " + got();
      out.f = j.get<double>();
      break;
    case DIFSS_PARAM_STRING:
    case DIFSS_PARAM_ENUM:
    case DIFSS_PARAM_PATH:
      if (!j.is_string()) return std::string("expected ") + sdk::param_type_name(s.type) + ", got " + got();
      out.s = j.get<std::string>();
      if (s.type == DIFSS_PARAM_PATH && !out.s.empty() && fs::path(out.s).is_relative())
        out.s = (base / out.s).lexically_normal().string();
      break;
  }
  if (s.flags & DIFSS_PARAM_FLAG_HAS_RANGE) {
    double x = s.type == DIFSS_PARAM_INT ? double(out.i) : out.f;
    if (!(x >= s.min && x <= s.max))
      return "value " + format_value(out) + " is out of range; expected " + describe_type(s);
  }
  if (s.type == DIFSS_PARAM_ENUM) {
    std::vector<std::string> allowed(s.enum_values, s.enum_values + s.enum_count);
    if (std::find(allowed.begin(), allowed.end(), out.s) == allowed.end())
      return "\"" + out.s + "\" is not allowed; expected " + describe_type(s) +
             did_you_mean(out.s, allowed);
  }
  return "";
}

bool has_port(const Descriptor& d, difss_port_dir dir, const std::string& format) {
  for (uint32_t i = 0; i < d.port_count; ++i)
    if (d.ports[i].dir == dir && d.ports[i].format && format == d.ports[i].format) return true;
  return false;
}

}  // namespace

ResolvedParams resolve_params(const Descriptor& d, const nlohmann::json& raw,
                              const std::map<std::string, SourceLoc>& locs, const SourceLoc& where,
                              const fs::path& base_dir, std::vector<std::string>& errors) {
  auto loc_of = [&](const std::string& key) {
    auto it = locs.find(key);
    return (it == locs.end() ? where : it->second).str();
  };
  std::string id = d.id;
  ResolvedParams rp;
  std::vector<std::string> names;
  for (uint32_t i = 0; i < d.param_count; ++i) names.push_back(d.params[i].name);
  for (auto& [key, val] : raw.items())
    if (std::find(names.begin(), names.end(), key) == names.end())
      errors.push_back(loc_of(key) + ": unknown parameter '" + key + "' for plugin '" + id + "'" +
                       did_you_mean(key, names));
  for (uint32_t i = 0; i < d.param_count; ++i) {
    const difss_param_info& s = d.params[i];
    if (!raw.contains(s.name)) {
      if (s.flags & DIFSS_PARAM_FLAG_REQUIRED) {
        errors.push_back(where.str() + ": plugin '" + id + "' needs parameter '" + s.name + "' (" +
                         describe_type(s) + ")");
        continue;
      }
      sdk::Value v = sdk::Value::from(s.default_value);
      v.type = s.type;
      rp.set(s.name, v, true);
      continue;
    }
    sdk::Value v;
    std::string why = convert(s, raw[s.name], v, base_dir);
    if (!why.empty()) {
      errors.push_back(loc_of(s.name) + ": parameter '" + s.name + "' of plugin '" + id + "': " + why);
      continue;
    }
    rp.set(s.name, v);
  }
  return rp;
}

void resolve_plugins(Pipeline& p, const Registry& registry) {
  std::vector<std::string> errors;
  const std::map<std::string, difss_kind> expected{{"condition", DIFSS_KIND_CONDITION},
                                                   {"generator", DIFSS_KIND_SAMPLER},
                                                   {"segmenter", DIFSS_KIND_SEGMENTER}};
  for (auto* stage : {&p.condition, &p.generator, &p.segmenter}) {
    if (!*stage || (*stage)->plugin.empty()) continue;
    PluginStage& st = **stage;
    const PluginInfo* info = registry.find(st.plugin);
    if (!info) {
      std::string hint;
      auto close = registry.suggest(st.plugin);
      if (!close.empty()) {
        hint = "; did you mean ";
        for (size_t i = 0; i < close.size(); ++i) hint += (i ? " or " : "") + ("'" + close[i] + "'");
        hint += "?";
      } else {
        hint = "; run `difss-host plugins list --verbose` to see what is available and what was rejected";
      }
      errors.push_back(st.loc.str() + ": unknown plugin '" + st.plugin + "'" + hint);
      continue;
    }
    const Descriptor& d = *info->descriptor;
    if (d.kind != expected.at(st.section)) {
      errors.push_back(st.loc.str() + ": plugin '" + st.plugin + "' is a " + kind_name(d.kind) +
                       ", but [" + st.section + "] needs a " + kind_name(expected.at(st.section)));
      continue;
    }
    st.info = info;
    st.params = resolve_params(d, st.raw_params, st.param_locs, st.loc, p.file.parent_path(), errors);
  }
  // Connected ports must agree: condition -> control image -> sampler -> images -> segmenter.
  auto port_check = [&](const std::optional<PluginStage>& st, difss_port_dir dir,
                        const std::string& format, const std::string& why) {
    if (st && st->info && !has_port(*st->info->descriptor, dir, format))
      errors.push_back(st->loc.str() + ": plugin '" + st->plugin + "' has no " +
                       (dir == DIFSS_PORT_IN ? "input" : "output") + " port of format '" + format +
                       "' (" + why + ")");
  };
  port_check(p.condition, DIFSS_PORT_OUT, DIFSS_FORMAT_IMAGE, "its control map feeds the generator");
  if (p.condition) port_check(p.generator, DIFSS_PORT_IN, DIFSS_FORMAT_IMAGE, "it consumes the control map");
  port_check(p.generator, DIFSS_PORT_OUT, DIFSS_FORMAT_IMAGES, "its images become auxiliary supports");
  port_check(p.segmenter, DIFSS_PORT_IN, DIFSS_FORMAT_IMAGE, "it consumes query and support images");
  if (p.generator && p.generator->info && !p.condition)
    errors.push_back(p.generator->loc.str() + ": [generator] needs a [condition] to make its control maps");
  if (p.mode == "evaluate" && !p.segmenter)
    errors.push_back(p.file.string() + ":1:1: mode \"evaluate\" needs a [segmenter] section");
  if (!p.dataset.contains("kind"))
    errors.push_back(p.file.string() + ":1:1: a [dataset] section with 'kind' is required");
  if (!errors.empty()) {
    std::string msg;
    for (const auto& e : errors) msg += (msg.empty() ? "" : "\n") + e;
    throw ConfigError(msg);
  }
}

nlohmann::json Pipeline::resolved_json() const {
  nlohmann::json j;
  j["pipeline"] = {{"name", name},         {"mode", mode},
                   {"seed", seed},         {"output", output.string()},
                   {"threads", threads},   {"on_error", on_error},
                   {"log_level", log_level}, {"file", file.string()}};
  j["dataset"] = dataset;
  j["evaluation"] = evaluation;
  for (const auto* st : {&condition, &generator, &segmenter}) {
    if (!*st) continue;
    nlohmann::json s = (*st)->extra;
    s["plugin"] = (*st)->plugin;
    s["params"] = (*st)->info ? (*st)->params.to_json() : (*st)->raw_params;
    if ((*st)->info) s["plugin_version"] = (*st)->info->descriptor->version;
    j[(*st)->section] = s;
  }
  return j;
}

std::string Pipeline::where(const std::string& section, const std::string& key) const {
  const std::map<std::string, SourceLoc>* m = nullptr;
  if (section == "dataset") m = &dataset_locs;
  if (section == "evaluation") m = &evaluation_locs;
  if (m) {
    auto it = m->find(key);
    if (it != m->end()) return it->second.str();
  }
  return file.string() + ":1:1";
}

const std::vector<KeySpec>& pipeline_keys() { return kKeys; }

}  // namespace difss
