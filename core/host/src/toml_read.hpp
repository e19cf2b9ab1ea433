// Reading pipeline TOML: located error collection and TOML -> JSON conversion, shared by the
// section reader (pipeline.cpp) and the key table (pipeline_keys.cpp). Internal to difss_core.
#pragma once

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <sstream>
#include <string>
#include <vector>

#include "difss/core/pipeline.hpp"

namespace difss::detail {

// Every problem of a file, each as "file:line:col: message".
struct Collector {
  std::string file;
  std::vector<std::string> errors;
  SourceLoc loc(const toml::source_region& r) const {
    return SourceLoc{file, int(r.begin.line), int(r.begin.column)};
  }
  void add(const toml::source_region& r, const std::string& msg) { add(loc(r), msg); }
  void add(const SourceLoc& l, const std::string& msg) { errors.push_back(l.str() + ": " + msg); }
};

inline nlohmann::json to_json(const toml::node& n) {
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

inline const char* toml_type_name(const toml::node& n) {
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

// The key table's side of parsing (pipeline_keys.cpp).
// Reports keys of `t` that the table does not list for `section`, with a did-you-mean.
void check_unknown_keys(Collector& c, const toml::table& t, const std::string& section);
// Reads the host-level keys of `section` from `t` (null: the section is absent) into `p`:
// each present key is type- and range-checked and stored; each absent one gets its default.
void read_host_keys(Collector& c, const toml::table* t, const std::string& section, Pipeline& p);
// The typed values of `section`'s host-level keys, as JSON (for resolved_json).
nlohmann::json host_keys_json(const Pipeline& p, const std::string& section);

}  // namespace difss::detail
