// org.difss.segmenter.torchscript: runs a user's torch.jit.trace'd few-shot segmenter (models not
// ported natively, e.g. BAM or HDMNet; see docs/MODELS.md for the contract and export snippets).
#pragma once

#include <difss/sdk/plugin.hpp>

#include <memory>

namespace difss::plugins {

class TorchScriptSegmenter : public sdk::Segmenter {
 public:
  static sdk::Descriptor describe();
  TorchScriptSegmenter(const sdk::Host& host, const sdk::Params& params);
  ~TorchScriptSegmenter() override;
  sdk::SegmenterOutput segment(const sdk::SegmenterInput& in, sdk::Call& call) override;

 private:
  struct Impl;  // holds the torch::jit::Module (keeps <torch/script.h> out of this header)
  sdk::Host host_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace difss::plugins
