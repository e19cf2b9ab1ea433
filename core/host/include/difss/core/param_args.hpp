// Plugin parameters written on a command line as "name=value" (difss-host bench --param,
// difss-fss-tool eval --param): typed by the plugin's schema, then checked exactly as a
// pipeline's `params` table is (unknown names with did-you-mean, types, ranges, enums).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "difss/core/pipeline.hpp"

namespace difss {

// "name=value" texts -> the JSON a TOML `params` table of those values would give: ints, floats
// and bools as such when the schema says so, everything else as strings (a value of the wrong
// type stays a string, and resolve_params names the expected type). Throws ConfigError on text
// without '=' or a name given twice. `option` names the flag in messages ("--param").
nlohmann::json params_from_args(const Descriptor& d, const std::vector<std::string>& args,
                                const std::string& option = "--param");

// `raw` (a pipeline section's params, overridden by command-line ones) checked against the
// schema, defaults filled; relative PATH values resolve against `base_dir`. Throws ConfigError
// listing every problem, each prefixed by where its key was written: `locs` (a pipeline's
// locations), else `where` ("--param").
ResolvedParams resolve_params_or_throw(const Descriptor& d, const nlohmann::json& raw,
                                       const std::string& where, const std::filesystem::path& base_dir,
                                       const std::map<std::string, SourceLoc>& locs = {});

}  // namespace difss
