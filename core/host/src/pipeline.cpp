#include "difss/core/pipeline.hpp"

#include <cmath>
#include <set>
#include <sstream>

#include "difss/core/errors.hpp"
#include "difss/core/suggest.hpp"
#include "toml_read.hpp"

namespace fs = std::filesystem;

namespace difss {

std::string SourceLoc::str() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(col);
}

namespace {

using detail::Collector;

const std::vector<std::string> kSections{"pipeline", "dataset", "condition", "generator", "segmenter", "evaluation"};

// Values the host owns that earlier samplers took as parameters: written inside [generator]
// params they are refused with where they went, instead of being silently ignored.
const std::vector<std::pair<std::string, std::string>> kMovedFromSamplerParams = {
    {"per_support", "the host owns it: write `per_support = N` directly under [generator], not in its params"},
    {"a_prompt", "the pipeline owns the prompt: the suffix is part of [generator] prompt, whose default "
                 "already ends with it (see `difss-host validate --keys`)"},
    {"n_prompt", "the pipeline owns the negative prompt: write it as [generator] negative_prompt"},
    {"double_comma", "the pipeline owns the prompt: write FSSpregenerate.py's ',,' into [generator] prompt "
                     "(see `difss-host validate --keys`)"},
};

void read_stage(Collector& c, const toml::table& root, const char* section,
                std::optional<PluginStage>& out) {
  const toml::table* t = root[section].as_table();
  if (!t) return;
  PluginStage st;
  st.section = section;
  st.loc = c.loc(t->source());
  if (const toml::node* n = t->get("plugin")) {
    if (n->is_string()) {
      st.plugin = n->value<std::string>().value_or("");
      st.loc = c.loc(n->source());
    } else {
      c.add(n->source(), std::string("'plugin' must be a plugin id string, got ") + detail::toml_type_name(*n));
    }
  }
  if (const toml::node* pn = t->get("params")) {
    if (const toml::table* pt = pn->as_table()) {
      for (auto&& [k, v] : *pt) {
        st.raw_params[std::string(k.str())] = detail::to_json(v);
        st.param_locs[std::string(k.str())] = c.loc(v.source());
      }
    } else {
      c.add(pn->source(), std::string("[") + section + "] params must be a table");
    }
  }
  if (st.section == "generator")
    for (const auto& [key, where_now] : kMovedFromSamplerParams)
      if (st.raw_params.contains(key))
        c.add(st.param_locs[key], "[generator] params: '" + key + "' is not a sampler parameter; " + where_now);
  if (st.plugin.empty() && st.section != "generator")
    c.add(st.loc, "[" + st.section + "] needs 'plugin = \"<id>\"'");
  out = std::move(st);
}

Pipeline parse_table(const toml::table& root, const fs::path& file) {
  Collector c{file.string(), {}};
  Pipeline p;
  p.file = file;
  for (auto&& [k, v] : root) {
    std::string key(k.str());
    if (std::find(kSections.begin(), kSections.end(), key) == kSections.end())
      c.add(k.source(), "unknown section [" + key + "]" + did_you_mean(key, kSections));
    else if (!v.is_table())
      c.add(v.source(), "[" + key + "] must be a table");
    else
      detail::check_unknown_keys(c, *v.as_table(), key);
  }
  // [pipeline] first: [generator] aux_dir defaults to a folder of its output.
  for (const char* section : {"pipeline", "dataset", "generator", "evaluation"})
    detail::read_host_keys(c, root[section].as_table(), section, p);
  read_stage(c, root, "condition", p.condition);
  read_stage(c, root, "generator", p.generator);
  read_stage(c, root, "segmenter", p.segmenter);

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
  if (p.dataset.kind.empty())
    errors.push_back(p.file.string() + ":1:1: a [dataset] section with 'kind' is required");
  if (!errors.empty()) {
    std::string msg;
    for (const auto& e : errors) msg += (msg.empty() ? "" : "\n") + e;
    throw ConfigError(msg);
  }
}

nlohmann::json Pipeline::resolved_json() const {
  nlohmann::json j;
  j["pipeline"] = detail::host_keys_json(*this, "pipeline");
  j["pipeline"]["file"] = file.string();
  j["dataset"] = detail::host_keys_json(*this, "dataset");
  j["evaluation"] = detail::host_keys_json(*this, "evaluation");
  for (const auto* st : {&condition, &generator, &segmenter}) {
    if (!*st) continue;
    nlohmann::json s = detail::host_keys_json(*this, (*st)->section);
    s["plugin"] = (*st)->plugin;
    s["params"] = (*st)->info ? (*st)->params.to_json() : (*st)->raw_params;
    if ((*st)->info) s["plugin_version"] = (*st)->info->descriptor->version;
    j[(*st)->section] = s;
  }
  return j;
}

std::string Pipeline::where(const std::string& section, const std::string& key) const {
  auto it = key_locs.find(section + "." + key);
  return it != key_locs.end() ? it->second.str() : file.string() + ":1:1";
}

std::string Pipeline::prompt_for(const std::string& class_name) const {
  std::string text = aux.prompt;
  for (size_t pos = 0; (pos = text.find("{class}", pos)) != std::string::npos; pos += class_name.size())
    text.replace(pos, 7, class_name);
  return text;
}

std::string Pipeline::prompt_class_name(const std::string& class_name, const std::string& class_set) const {
  // FSSpregenerate.py binarises FSS-1000 masks (mask >= 100 -> 1), so fg_cls is 1 for every class
  // and category_name[1] is the second line of its list/fss1k_all.txt.
  static const std::string kFssLabelOneName = "taxi";
  bool bugs = aux.official_bugs;
  if (condition && condition->raw_params.contains("official_bugs")) {
    const auto& v = condition->raw_params["official_bugs"];
    bugs = bugs || (v.is_boolean() && v.get<bool>());
  }
  return bugs && class_set == "fss1000" ? kFssLabelOneName : class_name;
}

}  // namespace difss
