// Small, weight-free plugins used by the host's tests and the conformance suite:
//   org.difss.test.mask-condition   control map = the mask painted white on black
//   org.difss.test.noise-sampler    seeded images: the control map plus per-image noise
//   org.difss.test.color-segmenter  foreground = pixels close to the supports' mean fg colour
#pragma once

#include <difss/sdk/plugin.hpp>

namespace difss::test {

class MaskCondition : public sdk::Condition {
 public:
  static sdk::Descriptor describe();
  MaskCondition(const sdk::Host&, const sdk::Params& p);
  sdk::OwnedTensor generate(const sdk::ConditionInput& in, sdk::Call& call) override;

 private:
  int value_;
  bool decline_odd_;
};

class NoiseSampler : public sdk::Sampler {
 public:
  static sdk::Descriptor describe();
  NoiseSampler(const sdk::Host& host, const sdk::Params& p);
  sdk::OwnedTensor sample(const sdk::SamplerInput& in, sdk::Call& call) override;

 private:
  sdk::Host host_;
  int steps_;
  double amplitude_;
};

class ColorSegmenter : public sdk::Segmenter {
 public:
  static sdk::Descriptor describe();
  ColorSegmenter(const sdk::Host&, const sdk::Params& p);
  sdk::SegmenterOutput segment(const sdk::SegmenterInput& in, sdk::Call& call) override;

 private:
  double scale_;
};

}  // namespace difss::test
