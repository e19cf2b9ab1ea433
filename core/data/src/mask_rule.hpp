// Internal: how a reader turns stored mask values into 0 / 1 / 255 masks, from options
//   mask_threshold = T        value >= T is foreground (e.g. JPEG masks), else 0
//   ignore_values = [v, ...]  values that become 255 (ignored by the metrics)
//   mask_values = { v = "class", ... } (or "v:class,v:class")  several classes per mask: the
//                             mask of a class is 1 where the value maps to it
// Without mask_threshold and mask_values the binary-mask rule of read_binary_mask applies.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "difss/data/dataset.hpp"
#include "difss/data/image_io.hpp"

namespace difss::data::detail {

class MaskRule {
 public:
  explicit MaskRule(const DatasetConfig& cfg);
  static std::vector<std::string> option_names() { return {"mask_threshold", "ignore_values", "mask_values"}; }

  bool multi_class() const { return !value_class_.empty(); }
  // mask_values: value -> class name (empty without the option).
  const std::map<int, std::string>& value_classes() const { return value_class_; }

  // The binary mask (0/1/255) of a single-class mask file.
  cv::Mat binary(const MaskValues& mv) const;
  // The mask of the class whose values are `values` (1), ignore values 255, the rest 0.
  cv::Mat of_values(const cv::Mat& values, const std::vector<int>& class_values) const;

 private:
  std::optional<int> threshold_;
  std::array<bool, 256> ignore_{};
  bool any_ignore_ = false;
  std::map<int, std::string> value_class_;
};

}  // namespace difss::data::detail
