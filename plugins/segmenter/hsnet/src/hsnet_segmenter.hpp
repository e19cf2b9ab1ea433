// org.difss.segmenter.hsnet: HSNet (ICCV 2021) few-shot segmenter, native LibTorch.
#pragma once

#include <difss/sdk/plugin.hpp>

#include <memory>
#include <string>

namespace difss::fss {
class HSNetEngine;
}

namespace difss::plugins {

class HSNetSegmenter : public sdk::Segmenter {
 public:
  static sdk::Descriptor describe();
  HSNetSegmenter(const sdk::Host& host, const sdk::Params& params);
  ~HSNetSegmenter() override;
  sdk::SegmenterOutput segment(const sdk::SegmenterInput& in, sdk::Call& call) override;

  // Whether HSNet's pyramid levels line up for a square input of `size` with this backbone
  // (the squeezed support dimensions of the three levels must agree).
  static bool size_is_usable(const std::string& backbone, int64_t size, std::string* why = nullptr);

 private:
  sdk::Host host_;
  std::unique_ptr<fss::HSNetEngine> engine_;
  double aux_weight_ = 1.0;
};

}  // namespace difss::plugins
