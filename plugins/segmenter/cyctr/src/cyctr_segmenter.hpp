// org.difss.segmenter.cyctr: CyCTR (NeurIPS 2021) few-shot segmenter, native LibTorch.
#pragma once

#include <difss/sdk/plugin.hpp>

#include <memory>

namespace difss::fss {
class CyCTREngine;
}

namespace difss::plugins {

class CyCTRSegmenter : public sdk::Segmenter {
 public:
  static sdk::Descriptor describe();
  CyCTRSegmenter(const sdk::Host& host, const sdk::Params& params);
  ~CyCTRSegmenter() override;
  sdk::SegmenterOutput segment(const sdk::SegmenterInput& in, sdk::Call& call) override;

 private:
  sdk::Host host_;
  std::unique_ptr<fss::CyCTREngine> engine_;
};

}  // namespace difss::plugins
