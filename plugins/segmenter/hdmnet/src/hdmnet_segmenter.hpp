// org.difss.segmenter.hdmnet: HDMNet (CVPR 2023) few-shot segmenter, native LibTorch.
#pragma once

#include <difss/sdk/plugin.hpp>

#include <memory>

namespace difss::fss {
class HDMNetEngine;
}

namespace difss::plugins {

class HDMNetSegmenter : public sdk::Segmenter {
 public:
  static sdk::Descriptor describe();
  HDMNetSegmenter(const sdk::Host& host, const sdk::Params& params);
  ~HDMNetSegmenter() override;
  sdk::SegmenterOutput segment(const sdk::SegmenterInput& in, sdk::Call& call) override;

 private:
  sdk::Host host_;
  std::unique_ptr<fss::HDMNetEngine> engine_;
};

}  // namespace difss::plugins
