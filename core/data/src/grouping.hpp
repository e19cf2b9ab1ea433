// Internal: the group of a sample (video, patient, site) from reader options, for
// support_sampling = cross_group. Options: group = none | folder (the image's folder), group_level = N
// (the folder at depth N of the image's folder), group_regex = <ECMAScript regex> on the sample name.
#pragma once

#include <regex>
#include <string>
#include <vector>

#include "difss/data/dataset.hpp"

namespace difss::data::detail {

// The folder component at 1-based `level` of "a/b/c"; "" when the path is shallower.
std::string folder_component(const std::string& folder, int level);

class GroupRule {
 public:
  // `folder_allowed`: whether the reader knows an image folder (group = "folder").
  GroupRule(const DatasetConfig& cfg, bool folder_allowed);
  static std::vector<std::string> option_names() { return {"group", "group_level", "group_regex"}; }
  // `name`: the sample name (relative path without extension); `folder`: the image's folder
  // relative to the image tree ("" at its top). Throws when the regex does not match.
  std::string group_of(const std::string& name, const std::string& folder) const;
  bool active() const { return mode_ != Mode::none; }

 private:
  enum class Mode { none, folder, level, regex } mode_ = Mode::none;
  int level_ = 0;
  std::string pattern_;
  std::regex re_;
  std::string kind_;
};

}  // namespace difss::data::detail
