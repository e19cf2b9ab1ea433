// The SDK side of every segmenter plugin built on difss_fss: checks the ports of a
// SegmenterInput, runs an engine on zero-copy views of them and returns owned outputs.
// Header-only (the SDK is), included by the plugins' .cpp files only.
#pragma once

#include <difss/fss/engines.hpp>
#include <difss/sdk/plugin.hpp>
#include <difss/sdk/tensor_torch.hpp>

#include <string>
#include <vector>

namespace difss::fss {

inline sdk::SegmenterOutput segment_with(SegmenterEngine& engine, const sdk::SegmenterInput& in, sdk::Call& call) {
  sdk::require_port(in.query, "query", "image");
  std::vector<Shot> shots;
  for (size_t k = 0; k < in.shots(); ++k) {
    sdk::require_port(*in.support_images[k], "support_images[" + std::to_string(k) + "]", "image");
    sdk::require_port(*in.support_masks[k], "support_masks[" + std::to_string(k) + "]", "mask");
    shots.push_back({sdk::as_tensor(*in.support_images[k]), sdk::as_tensor(*in.support_masks[k])});
  }
  call.check_cancelled();
  Segmentation r;
  try {
    r = engine.segment(sdk::as_tensor(in.query), shots);
  } catch (const std::invalid_argument& e) {
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, e.what());
  }
  sdk::SegmenterOutput out;
  out.prob = sdk::to_owned(r.prob);
  out.mask = sdk::to_owned(r.mask);
  return out;
}

}  // namespace difss::fss
