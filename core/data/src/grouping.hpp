// Internal: the group of a sample (video, patient, site) from reader options, for
// support_sampling = cross_group. Options: group = none | folder, group_regex = <ECMAScript regex>.
#pragma once

#include <regex>
#include <string>
#include <vector>

#include "difss/data/dataset.hpp"

namespace difss::data::detail {

class GroupRule {
 public:
  // `folder_allowed`: whether the reader knows an image folder (group = "folder").
  GroupRule(const DatasetConfig& cfg, bool folder_allowed);
  static std::vector<std::string> option_names() { return {"group", "group_regex"}; }
  // `name`: the sample name (relative path without extension); `folder`: the image's folder
  // relative to the image tree ("" at its top). Throws when the regex does not match.
  std::string group_of(const std::string& name, const std::string& folder) const;
  bool active() const { return mode_ != Mode::none; }

 private:
  enum class Mode { none, folder, regex } mode_ = Mode::none;
  std::string pattern_;
  std::regex re_;
  std::string kind_;
};

}  // namespace difss::data::detail
