// Parameter schemas on the host side: resolved values (checked, defaults filled) and how they
// are shown and passed to a plugin.
#pragma once

#include <difss/abi/difss.h>
#include <difss/sdk/params.hpp>

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

namespace difss {

struct Descriptor;  // registry.hpp

struct ResolvedParam {
  std::string name;
  sdk::Value value;
  bool defaulted = false;  // filled from the schema, not written by the user
};

class ResolvedParams {
 public:
  void set(std::string name, sdk::Value v, bool defaulted = false);
  const sdk::Value* find(const std::string& name) const;
  const std::vector<ResolvedParam>& items() const { return items_; }
  // The ABI view (element stride sizeof(difss_param)); valid while this object lives and is not
  // modified.
  std::vector<difss_param> c_params() const;
  nlohmann::json to_json() const;

 private:
  std::vector<ResolvedParam> items_;
};

// Every parameter of the schema at its default (REQUIRED ones left out).
ResolvedParams default_params(const Descriptor& d);

// "float", "int in [1, 1000]", "enum {ddim, dpmpp-2m}", ...
std::string describe_type(const difss_param_info& spec);
std::string format_value(const difss_value& v);
std::string format_value(const sdk::Value& v);

}  // namespace difss
