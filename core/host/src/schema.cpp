#include "difss/core/schema.hpp"

#include <nlohmann/json.hpp>

#include <sstream>

#include "difss/core/registry.hpp"

namespace difss {

void ResolvedParams::set(std::string name, sdk::Value v, bool defaulted) {
  for (auto& p : items_)
    if (p.name == name) {
      p.value = std::move(v);
      p.defaulted = defaulted;
      return;
    }
  items_.push_back({std::move(name), std::move(v), defaulted});
}

const sdk::Value* ResolvedParams::find(const std::string& name) const {
  for (const auto& p : items_)
    if (p.name == name) return &p.value;
  return nullptr;
}

std::vector<difss_param> ResolvedParams::c_params() const {
  std::vector<difss_param> out;
  for (const auto& p : items_) {
    difss_param c{};
    c.struct_size = sizeof(c);
    c.name = p.name.c_str();
    c.value.type = p.value.type;
    c.value.b = p.value.b ? 1 : 0;
    c.value.i = p.value.i;
    c.value.f = p.value.f;
    c.value.s = p.value.s.c_str();
    out.push_back(c);
  }
  return out;
}

nlohmann::json ResolvedParams::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& p : items_) {
    switch (p.value.type) {
      case DIFSS_PARAM_BOOL: j[p.name] = p.value.b; break;
      case DIFSS_PARAM_INT: j[p.name] = p.value.i; break;
      case DIFSS_PARAM_FLOAT: j[p.name] = p.value.f; break;
      default: j[p.name] = p.value.s; break;
    }
  }
  return j;
}

ResolvedParams default_params(const Descriptor& d) {
  ResolvedParams r;
  for (uint32_t i = 0; i < d.param_count; ++i) {
    const auto& s = d.params[i];
    if (s.flags & DIFSS_PARAM_FLAG_REQUIRED) continue;
    sdk::Value v = sdk::Value::from(s.default_value);
    v.type = s.type;
    r.set(s.name, v, true);
  }
  return r;
}

static std::string num(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

std::string describe_type(const difss_param_info& s) {
  std::string t = sdk::param_type_name(s.type);
  if (s.type == DIFSS_PARAM_ENUM) {
    t += " {";
    for (uint32_t e = 0; e < s.enum_count; ++e) t += (e ? ", " : "") + std::string(s.enum_values[e]);
    t += "}";
  }
  if (s.flags & DIFSS_PARAM_FLAG_HAS_RANGE) t += " in [" + num(s.min) + ", " + num(s.max) + "]";
  return t;
}

std::string format_value(const sdk::Value& v) {
  switch (v.type) {
    case DIFSS_PARAM_BOOL: return v.b ? "true" : "false";
    case DIFSS_PARAM_INT: return std::to_string(v.i);
    case DIFSS_PARAM_FLOAT: return num(v.f);
    default: return "\"" + v.s + "\"";
  }
}

std::string format_value(const difss_value& v) { return format_value(sdk::Value::from(v)); }

}  // namespace difss
