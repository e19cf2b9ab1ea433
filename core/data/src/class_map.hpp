// Internal: option class_map of the folder reader: class -> list of folders (videos, sites) whose
// images belong to it. Given inline (a TOML table: class_map = { animal = ["bear", "dog"] }) or as
// a file: JSON ({"animal": ["bear", "dog"]}) or text lines "animal: bear dog" ('#' comments;
// folders separated by spaces or commas). A folder is a path relative to the image tree; it
// holds its sub-folders too.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "difss/data/dataset.hpp"

namespace difss::data::detail {

class ClassMap {
 public:
  ClassMap() = default;
  ClassMap(const DatasetConfig& cfg, const std::filesystem::path& root);
  bool empty() const { return folder_class_.empty(); }
  // The class of an image in folder `rel_dir` ("a/b"): that of the longest listed folder that is
  // rel_dir or one of its parents; "" when none is listed.
  std::string class_of(const std::string& rel_dir) const;
  const std::map<std::string, std::string>& folders() const { return folder_class_; }

 private:
  void add(const std::string& cls, std::string folder, const std::string& source);
  std::map<std::string, std::string> folder_class_;
};

}  // namespace difss::data::detail
