// org.difss.segmenter.dcama: DCAMA (ECCV 2022) few-shot segmenter, native LibTorch.
#pragma once

#include <difss/sdk/plugin.hpp>

#include <memory>

namespace difss::fss {
class DCAMAEngine;
}

namespace difss::plugins {

class DCAMASegmenter : public sdk::Segmenter {
 public:
  static sdk::Descriptor describe();
  DCAMASegmenter(const sdk::Host& host, const sdk::Params& params);
  ~DCAMASegmenter() override;
  sdk::SegmenterOutput segment(const sdk::SegmenterInput& in, sdk::Call& call) override;

 private:
  sdk::Host host_;
  std::unique_ptr<fss::DCAMAEngine> engine_;
};

}  // namespace difss::plugins
