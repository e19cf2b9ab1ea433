// `difss-host validate FILE`: parse, resolve plugins, check parameters and ports. Loads no
// weights and writes nothing.
#include <difss/core/errors.hpp>
#include <difss/core/pipeline.hpp>

#include <iostream>

#include "commands.hpp"

namespace difss::cli {

int validate(const Registry& reg, const std::string& file) {
  try {
    Pipeline p = parse_pipeline(file);
    resolve_plugins(p, reg);
    std::cout << file << ": OK\n" << p.resolved_json().dump(2) << "\n";
    return kExitOk;
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    return kExitConfig;
  }
}

int print_pipeline_keys() {
  std::cout << pipeline_keys_markdown();
  return kExitOk;
}

}  // namespace difss::cli
