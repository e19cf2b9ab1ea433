// org.difss.sampler.controlnet-sd15: ControlNet + Stable Diffusion 1.5 in LibTorch, the
// generator of DifFSS's auxiliary supports (ControlNet4FSS FSSpregenerate.py).
#pragma once

#include <difss/sdk/plugin.hpp>

#include <memory>
#include <string>

namespace difss::sd {
class ControlNetPipeline;
}

namespace difss::plugins {

class ControlNetSd15Sampler : public sdk::Sampler {
 public:
  static sdk::Descriptor describe();
  ControlNetSd15Sampler(const sdk::Host& host, const sdk::Params& params);
  ~ControlNetSd15Sampler() override;
  sdk::OwnedTensor sample(const sdk::SamplerInput& in, sdk::Call& call) override;

 private:
  sdk::Host host_;
  std::unique_ptr<sd::ControlNetPipeline> pipe_;
  std::string sampler_;
  int steps_, batch_size_, resolution_;
  double guidance_, strength_, eta_;
  bool guess_mode_;
  int64_t seed_;
};

}  // namespace difss::plugins
