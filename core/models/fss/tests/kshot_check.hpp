// A check shared by the plugin tests of the segmenters whose model takes a fixed K (BAM's
// kshot_rw, CyCTR's configured shots): five 64x64 supports run, one support is refused with
// DIFSS_ERR_INVALID_ARGUMENT and a message saying "exactly 5 support".
#pragma once

#include "catch_torch.hpp"
#include "plugin_harness.hpp"
#include "test_inputs.hpp"

#include <string>
#include <vector>

namespace difss::test {

inline void check_takes_exactly_five(sdk::Segmenter& seg) {
  std::vector<at::Tensor> imgs, masks;
  for (int64_t k = 1; k <= 5; ++k) {
    imgs.push_back(test_image(64, k));
    masks.push_back(ellipse_mask(64, k));
  }
  SegmentCall call;
  auto out = call.run(seg, test_image(64, 0), imgs, masks);
  CHECK(as_at(out.prob).sizes() == at::IntArrayRef({64, 64}));
  std::string msg;
  CHECK(status_of([&] { call.run(seg, test_image(64, 0), {imgs[0]}, {masks[0]}); }, &msg) == DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(msg.find("exactly 5 support") != std::string::npos);
}

}  // namespace difss::test
