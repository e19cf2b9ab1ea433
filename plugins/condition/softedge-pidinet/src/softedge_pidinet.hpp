// ControlNet 1.1's "softedge_pidi" guidance: PiDiNet's fused edge map of the resized support
// image, optionally kept inside the dilated support mask as ControlNet4FSS does for HED.
#pragma once

#include <difss/sdk/plugin.hpp>

#include <memory>

#include "pidinet.hpp"

namespace difss::plugins {

class SoftEdgePidiNetCondition : public sdk::Condition {
 public:
  static sdk::Descriptor describe();
  SoftEdgePidiNetCondition(const sdk::Host& host, const sdk::Params& params);
  sdk::OwnedTensor generate(const sdk::ConditionInput& in, sdk::Call& call) override;

  // PidiNetDetector.__call__: uint8 [H, W] map = (fused * 255).clip(0, 255) truncated; with
  // `safe`, fused goes through safe_step first (floor(3 p) / 2).
  static cv::Mat to_u8(const cv::Mat& fused, bool safe);

 private:
  sdk::Host host_;
  std::shared_ptr<const PiDiNet> net_;
  int resolution_;
  PiDiNet::Preprocess preprocess_;
  bool safe_, mask_filter_;
};

}  // namespace difss::plugins
