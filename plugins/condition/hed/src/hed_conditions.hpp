// The "hed" and "scribble" guidances of ControlNet4FSS (FSSpregenerate.py hed_control and
// scribble_control): ControlNet's HED annotator on the resized support image, kept inside the
// support mask dilated once by a 14x14 ellipse; scribble thresholds that map at 127.
#pragma once

#include <difss/sdk/plugin.hpp>

#include <memory>
#include <string>

#include <opencv2/core.hpp>

namespace difss::plugins {

class ControlNetHed;

// One network per checkpoint file, shared by every instance that loads it (weights are read-only).
std::shared_ptr<const ControlNetHed> shared_hed_network(const std::string& checkpoint_param,
                                                        const sdk::Host& host);

// hed_control: resize_image(image, resolution) -> HED -> [mask filter] (uint8 [H, W]).
cv::Mat masked_hed_map(const ControlNetHed& net, const cv::Mat& rgb, const cv::Mat& mask, int resolution,
                       bool mask_filter);

class HedCondition : public sdk::Condition {
 public:
  static sdk::Descriptor describe();
  HedCondition(const sdk::Host& host, const sdk::Params& params);
  sdk::OwnedTensor generate(const sdk::ConditionInput& in, sdk::Call& call) override;

 private:
  sdk::Host host_;
  std::shared_ptr<const ControlNetHed> net_;
  int resolution_;
  bool mask_filter_;
};

class ScribbleCondition : public sdk::Condition {
 public:
  static sdk::Descriptor describe();
  ScribbleCondition(const sdk::Host& host, const sdk::Params& params);
  sdk::OwnedTensor generate(const sdk::ConditionInput& in, sdk::Call& call) override;

 private:
  sdk::Host host_;
  std::shared_ptr<const ControlNetHed> net_;
  int resolution_, image_resolution_, threshold_;
  bool mask_filter_;
};

}  // namespace difss::plugins
