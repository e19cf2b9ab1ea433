#include "difss/core/param_args.hpp"

#include <cstdlib>

#include "difss/core/errors.hpp"

namespace difss {

namespace {

const difss_param_info* find_spec(const Descriptor& d, const std::string& name) {
  for (uint32_t i = 0; i < d.param_count; ++i)
    if (name == d.params[i].name) return &d.params[i];
  return nullptr;
}

// The value typed as the schema wants it when the text reads as that type; else the text.
nlohmann::json typed_value(const difss_param_info* spec, const std::string& text) {
  if (!spec || text.empty()) return text;
  char* end = nullptr;
  switch (spec->type) {
    case DIFSS_PARAM_BOOL:
      if (text == "true") return true;
      if (text == "false") return false;
      return text;
    case DIFSS_PARAM_INT: {
      long long v = std::strtoll(text.c_str(), &end, 10);
      return *end == '\0' ? nlohmann::json(v) : nlohmann::json(text);
    }
    case DIFSS_PARAM_FLOAT: {
      double v = std::strtod(text.c_str(), &end);
      return *end == '\0' ? nlohmann::json(v) : nlohmann::json(text);
    }
    default:
      return text;
  }
}

}  // namespace

nlohmann::json params_from_args(const Descriptor& d, const std::vector<std::string>& args,
                                const std::string& option) {
  nlohmann::json raw = nlohmann::json::object();
  for (const auto& a : args) {
    const auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError(option + " " + a + ": expected NAME=VALUE (a parameter of plugin '" + d.id +
                        "'; `difss-host plugins inspect " + d.id + "` lists them)");
    const std::string name = a.substr(0, eq);
    if (raw.contains(name)) throw ConfigError(option + " " + a + ": parameter '" + name + "' is given twice");
    raw[name] = typed_value(find_spec(d, name), a.substr(eq + 1));
  }
  return raw;
}

ResolvedParams resolve_params_or_throw(const Descriptor& d, const nlohmann::json& raw,
                                       const std::string& where, const std::filesystem::path& base_dir,
                                       const std::map<std::string, SourceLoc>& locs) {
  std::vector<std::string> errors;
  const SourceLoc loc{where, 0, 0};
  ResolvedParams rp = resolve_params(d, raw, locs, loc, base_dir, errors);
  if (errors.empty()) return rp;
  // resolve_params prefixes "file:line:col: "; a command line has no lines.
  const std::string prefix = loc.str() + ": ";
  std::string msg;
  for (auto e : errors) {
    if (e.compare(0, prefix.size(), prefix) == 0) e = where + ": " + e.substr(prefix.size());
    msg += (msg.empty() ? "" : "\n") + e;
  }
  throw ConfigError(msg);
}

}  // namespace difss
