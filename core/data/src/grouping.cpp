// Sample groups from reader options; see grouping.hpp.
#include "grouping.hpp"

#include <stdexcept>

#include "dataset_common.hpp"

namespace difss::data::detail {

std::string folder_component(const std::string& folder, int level) {
  std::size_t begin = 0;
  for (int k = 1; k < level; ++k) {
    begin = folder.find('/', begin);
    if (begin == std::string::npos) return {};
    ++begin;
  }
  if (folder.empty() || begin > folder.size()) return {};
  return folder.substr(begin, folder.find('/', begin) - begin);
}

GroupRule::GroupRule(const DatasetConfig& cfg, bool folder_allowed) : kind_(cfg.kind) {
  const std::string mode = option_str(cfg, "group", "");
  if (int(has_option(cfg, "group_regex")) + int(has_option(cfg, "group_level")) + int(!mode.empty() && mode != "none") > 1)
    throw std::invalid_argument(kind_ + ": give one of the options group, group_level and group_regex, not both");
  if (has_option(cfg, "group_level")) {
    if (!folder_allowed)
      throw std::invalid_argument(kind_ + ": option group_level is not available for this kind; use group_regex");
    level_ = static_cast<int>(option_int(cfg, "group_level", 1, 1, 64));
    mode_ = Mode::level;
  } else if (has_option(cfg, "group_regex")) {
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
  if (mode_ == Mode::level) {
    const std::string g = folder_component(folder, level_);
    if (g.empty())
      throw std::runtime_error(kind_ + ": option group_level = " + std::to_string(level_) + ": the image '" + name +
                               "' is not inside a folder at that depth");
    return g;
  }
  std::smatch m;
  if (!std::regex_search(name, m, re_))
    throw std::runtime_error(kind_ + ": option group_regex '" + pattern_ + "' does not match the sample name '" +
                             name + "' (every sample needs a group)");
  return m.size() > 1 ? m[1].str() : m[0].str();
}

}  // namespace difss::data::detail
