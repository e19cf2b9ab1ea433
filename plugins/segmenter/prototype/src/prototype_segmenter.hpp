// org.difss.segmenter.prototype: training-free few-shot segmenter (feature matching on an
// ImageNet backbone: an ONNX network through OpenCV's dnn module, or a LibTorch ResNet/VGG).
#pragma once

#include <difss/sdk/plugin.hpp>

#include <memory>

namespace difss::fss {
class PrototypeEngine;
}

namespace difss::plugins {

class PrototypeSegmenter : public sdk::Segmenter {
 public:
  static sdk::Descriptor describe();
  PrototypeSegmenter(const sdk::Host& host, const sdk::Params& params);
  ~PrototypeSegmenter() override;
  sdk::SegmenterOutput segment(const sdk::SegmenterInput& in, sdk::Call& call) override;

 private:
  sdk::Host host_;
  std::unique_ptr<fss::PrototypeEngine> engine_;
  double aux_weight_ = 1.0;
};

}  // namespace difss::plugins
