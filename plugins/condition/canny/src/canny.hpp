// Canny edges of the support image as a control map (ControlNet's canny annotator:
// cv2.Canny(img, low, high) on the RGB image, edges replicated to 3 channels), optionally
// limited to the dilated support mask.
#pragma once

#include <difss/sdk/plugin.hpp>

namespace difss::plugins {

class CannyCondition : public sdk::Condition {
 public:
  static sdk::Descriptor describe();
  CannyCondition(const sdk::Host& host, const sdk::Params& params);
  sdk::OwnedTensor generate(const sdk::ConditionInput& in, sdk::Call& call) override;

 private:
  sdk::Host host_;
  int low_, high_;
  bool mask_filter_;
  int resolution_;
};

}  // namespace difss::plugins
