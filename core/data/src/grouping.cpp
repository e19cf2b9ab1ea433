// Sample groups from reader options; see grouping.hpp.
#include "grouping.hpp"

#include <stdexcept>

#include "dataset_common.hpp"

namespace difss::data::detail {

GroupRule::GroupRule(const DatasetConfig& cfg, bool folder_allowed) : kind_(cfg.kind) {
  const std::string mode = option_str(cfg, "group", "");
  if (has_option(cfg, "group_regex")) {
    if (!mode.empty() && mode != "regex")
      throw std::invalid_argument(kind_ + ": give either option group = \"" + mode + "\" or group_regex, not both");
    pattern_ = option_str(cfg, "group_regex", "");
    try {
      re_ = std::regex(pattern_, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw std::invalid_argument(kind_ + ": option group_regex '" + pattern_ + "' is not a valid regex: " + e.what());
    }
    mode_ = Mode::regex;
  } else if (mode == "folder") {
    if (!folder_allowed)
      throw std::invalid_argument(kind_ + ": option group = \"folder\" is not available for this kind; use group_regex");
    mode_ = Mode::folder;
  } else if (!mode.empty() && mode != "none") {
    throw std::invalid_argument(kind_ + ": option group must be \"none\" or \"folder\" (or give group_regex), got '" +
                                mode + "'");
  }
}

std::string GroupRule::group_of(const std::string& name, const std::string& folder) const {
  if (mode_ == Mode::none) return {};
  if (mode_ == Mode::folder) return folder.empty() ? "." : folder;
  std::smatch m;
  if (!std::regex_search(name, m, re_))
    throw std::runtime_error(kind_ + ": option group_regex '" + pattern_ + "' does not match the sample name '" +
                             name + "' (every sample needs a group)");
  return m.size() > 1 ? m[1].str() : m[0].str();
}

}  // namespace difss::data::detail
