// org.difss.segmenter.bam: BAM (CVPR 2022) / DifFSS-BAM few-shot segmenter, native LibTorch.
#pragma once

#include <difss/sdk/plugin.hpp>

#include <memory>

namespace difss::fss {
class BAMEngine;
}

namespace difss::plugins {

class BAMSegmenter : public sdk::Segmenter {
 public:
  static sdk::Descriptor describe();
  BAMSegmenter(const sdk::Host& host, const sdk::Params& params);
  ~BAMSegmenter() override;
  sdk::SegmenterOutput segment(const sdk::SegmenterInput& in, sdk::Call& call) override;

 private:
  sdk::Host host_;
  std::unique_ptr<fss::BAMEngine> engine_;
};

}  // namespace difss::plugins
