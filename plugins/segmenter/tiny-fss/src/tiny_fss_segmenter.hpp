// org.difss.segmenter.tiny-fss: the embedded default segmenter (see include/difss/tiny/fss.hpp):
// a tiny HSNet trained by difss on the base classes of the `synthetic` dataset, loaded from the
// committed weights beside the plugin library.
#pragma once

#include <difss/sdk/plugin.hpp>

#include <memory>
#include <string>

namespace difss::tiny {
struct TinyFss;
}

namespace difss::plugins {

class TinyFssSegmenter : public sdk::Segmenter {
 public:
  static sdk::Descriptor describe();
  TinyFssSegmenter(const sdk::Host& host, const sdk::Params& params);
  ~TinyFssSegmenter() override;
  sdk::SegmenterOutput segment(const sdk::SegmenterInput& in, sdk::Call& call) override;

  // <plugin dir>/tiny-fss/tiny_fss.safetensors
  static std::string default_checkpoint(const sdk::Host& host, const std::string& model = "classic");

 private:
  sdk::Host host_;
  std::unique_ptr<tiny::TinyFss> model_;
  double aux_weight_ = 1.0;
};

}  // namespace difss::plugins
