// org.difss.sampler.tiny-controlnet: the embedded default generator (see
// include/difss/tiny/diffusion.hpp): a tiny ControlNet + UNet trained by difss on the
// `synthetic` dataset, loaded from the committed weights beside the plugin library.
#pragma once

#include <difss/sdk/plugin.hpp>

#include <memory>
#include <string>

namespace difss::tiny {
struct TinyDiffusion;
}

namespace difss::plugins {

class TinyControlNetSampler : public sdk::Sampler {
 public:
  static sdk::Descriptor describe();
  TinyControlNetSampler(const sdk::Host& host, const sdk::Params& params);
  ~TinyControlNetSampler() override;
  sdk::OwnedTensor sample(const sdk::SamplerInput& in, sdk::Call& call) override;

  // The default checkpoint: <plugin dir>/tiny-controlnet/tiny_controlnet.safetensors.
  static std::string default_checkpoint(const sdk::Host& host, const std::string& model = "classic");
  // Class-embedding row for the host's class name (or a class name inside the prompt); 0 if none.
  int row_for(const std::string& class_name, const std::string& prompt) const;

 private:
  sdk::Host host_;
  std::unique_ptr<tiny::TinyDiffusion> model_;
  int steps_, batch_size_;
  double guidance_, strength_, eta_;
  long long seed_;
};

}  // namespace difss::plugins
