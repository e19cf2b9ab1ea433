// A scribble drawn from the support mask alone (no network, no weights): the mask outline plus a
// few inner "echo" outlines, each traced with a smooth seeded jitter, white strokes on black like
// the scribble maps ControlNet's scribble model takes. Deterministic: the same mask, parameters
// and seed give the same map on every platform (own RNG mapping, no std:: distributions); the
// random stream is seeded with `seed` XOR a hash of the mask, so different supports wobble
// differently.
#pragma once

#include <difss/sdk/plugin.hpp>

#include <cstdint>

#include <opencv2/core.hpp>

namespace difss::plugins {

struct MaskScribbleOptions {
  int thickness = 3;        // stroke width in pixels of the output (each stroke varies by -1..+1)
  double jitter = 2.0;      // largest displacement of a stroke from the true outline, pixels
  int knot_spacing = 16;    // contour pixels between jitter knots (the wobble's wavelength)
  int inner_strokes = 2;    // inner outlines at depths k / (n + 1) of the deepest interior point
  int min_area = 16;        // outlines enclosing fewer pixels are not drawn
  uint64_t seed = 0;
};

// Strokes (uint8 0/255, same size) of a 0/1 foreground mask.
cv::Mat draw_mask_scribble(const cv::Mat& fg01, const MaskScribbleOptions& options);

class MaskScribbleCondition : public sdk::Condition {
 public:
  static sdk::Descriptor describe();
  MaskScribbleCondition(const sdk::Host& host, const sdk::Params& params);
  sdk::OwnedTensor generate(const sdk::ConditionInput& in, sdk::Call& call) override;

 private:
  sdk::Host host_;
  int resolution_;
  MaskScribbleOptions options_;
};

}  // namespace difss::plugins
