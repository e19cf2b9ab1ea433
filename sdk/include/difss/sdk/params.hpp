// difss::sdk::Params: the resolved parameters a plugin receives in its constructor.
//
// The host has already checked them against the schema and filled defaults; Params checks again
// (a plugin must reject bad parameters with a status even from a careless host) and gives typed
// access whose errors name the key and what was expected.
#pragma once

#include <difss/abi/difss.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include <difss/sdk/error.hpp>

namespace difss::sdk {

inline const char* param_type_name(difss_param_type t) {
  switch (t) {
    case DIFSS_PARAM_BOOL: return "bool";
    case DIFSS_PARAM_INT: return "int";
    case DIFSS_PARAM_FLOAT: return "float";
    case DIFSS_PARAM_STRING: return "string";
    case DIFSS_PARAM_PATH: return "path";
    case DIFSS_PARAM_ENUM: return "enum";
  }
  return "unknown";
}

// A value with its strings owned (the ABI's difss_value only borrows them).
struct Value {
  difss_param_type type = DIFSS_PARAM_STRING;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  static Value from(const difss_value& v) {
    Value o;
    o.type = v.type;
    o.b = v.b != 0;
    o.i = v.i;
    o.f = v.f;
    o.s = v.s ? v.s : "";
    return o;
  }
};

class Params {
 public:
  Params() = default;
  // `stride` is the element size the host used (growth rule (c) of difss.h); 0 = sizeof.
  Params(std::string owner, const difss_param* params, uint32_t n, uint32_t stride = 0)
      : owner_(std::move(owner)) {
    if (stride == 0) stride = uint32_t(sizeof(difss_param));
    if (n && (!params || stride < offsetof(difss_param, value) + sizeof(difss_value)))
      throw Error(DIFSS_ERR_INVALID_ARGUMENT, owner_ + ": malformed parameter array");
    for (uint32_t k = 0; k < n; ++k) {
      const auto* p = reinterpret_cast<const difss_param*>(reinterpret_cast<const char*>(params) +
                                                           size_t(k) * stride);
      if (!p->name) throw Error(DIFSS_ERR_INVALID_ARGUMENT, owner_ + ": unnamed parameter");
      values_[p->name] = Value::from(p->value);
    }
  }

  // Validates against a description (anything with `params` (difss_param_info) and
  // `param_count`): unknown names, types, ranges, enums; fills defaults.
  template <class Description>
  void check_against(const Description& d) {
    for (const auto& kv : values_) {
      bool known = false;
      for (uint32_t k = 0; k < d.param_count; ++k) known |= kv.first == d.params[k].name;
      if (!known) fail(kv.first, "unknown parameter");
    }
    for (uint32_t k = 0; k < d.param_count; ++k) {
      const difss_param_info& s = d.params[k];
      auto it = values_.find(s.name);
      if (it == values_.end()) {
        if (s.flags & DIFSS_PARAM_FLAG_REQUIRED) fail(s.name, "is required but was not given");
        values_[s.name] = Value::from(s.default_value);
        values_[s.name].type = s.type;
        continue;
      }
      Value& v = it->second;
      if (v.type == DIFSS_PARAM_INT && s.type == DIFSS_PARAM_FLOAT) {  // 3 is a fine float
        v.type = DIFSS_PARAM_FLOAT;
        v.f = double(v.i);
      }
      bool stringy = s.type == DIFSS_PARAM_STRING || s.type == DIFSS_PARAM_PATH ||
                     s.type == DIFSS_PARAM_ENUM;
      bool v_stringy = v.type == DIFSS_PARAM_STRING || v.type == DIFSS_PARAM_PATH ||
                       v.type == DIFSS_PARAM_ENUM;
      if (v.type != s.type && !(stringy && v_stringy))
        fail(s.name, std::string("expected ") + param_type_name(s.type) + ", got " +
                         param_type_name(v.type));
      v.type = s.type;
      if (s.flags & DIFSS_PARAM_FLAG_HAS_RANGE) {
        double x = s.type == DIFSS_PARAM_INT ? double(v.i) : v.f;
        if (!(x >= s.min && x <= s.max) || std::isnan(x))
          fail(s.name, "value " + num(x) + " is out of range [" + num(s.min) + ", " + num(s.max) + "]");
      }
      if (s.type == DIFSS_PARAM_ENUM) {
        bool ok = false;
        std::string allowed;
        for (uint32_t e = 0; e < s.enum_count; ++e) {
          ok |= v.s == s.enum_values[e];
          allowed += (e ? ", " : "") + std::string("\"") + s.enum_values[e] + "\"";
        }
        if (!ok) fail(s.name, "\"" + v.s + "\" is not one of " + allowed);
      }
    }
  }

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  bool boolean(const std::string& name) const { return get(name, DIFSS_PARAM_BOOL).b; }
  int64_t integer(const std::string& name) const { return get(name, DIFSS_PARAM_INT).i; }
  double real(const std::string& name) const {
    const Value& v = at(name);
    if (v.type == DIFSS_PARAM_INT) return double(v.i);
    return get(name, DIFSS_PARAM_FLOAT).f;
  }
  const std::string& string(const std::string& name) const {
    const Value& v = at(name);
    if (v.type != DIFSS_PARAM_STRING && v.type != DIFSS_PARAM_PATH && v.type != DIFSS_PARAM_ENUM)
      fail(name, std::string("is a ") + param_type_name(v.type) + ", not a string");
    return v.s;
  }
  const std::map<std::string, Value>& values() const { return values_; }

 private:
  static std::string num(double x) {
    if (std::floor(x) == x && std::fabs(x) < 1e15) return std::to_string(int64_t(x));
    return std::to_string(x);
  }
  [[noreturn]] void fail(const std::string& name, const std::string& what) const {
    throw Error(DIFSS_ERR_INVALID_ARGUMENT, owner_ + ": parameter '" + name + "' " + what);
  }
  const Value& at(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) fail(name, "was not declared by the plugin's schema");
    return it->second;
  }
  const Value& get(const std::string& name, difss_param_type t) const {
    const Value& v = at(name);
    if (v.type != t)
      fail(name, std::string("is a ") + param_type_name(v.type) + ", not a " + param_type_name(t));
    return v;
  }

  std::string owner_;
  std::map<std::string, Value> values_;
};

}  // namespace difss::sdk
