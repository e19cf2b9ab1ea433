// Restores the process-wide attention settings (attention.hpp) and convolution settings
// (difss/conv/winograd.hpp; the guard lives with the conv tests) that a test case changes.
#pragma once

#include "../../conv/tests/conv_settings.hpp"
#include <difss/sd/attention.hpp>

#include <cstdint>
#include <string>

namespace difss::sd::test {

struct RestoreAttentionSettings {
  std::string kernel = attention_kernel();
  int64_t min_keys = fused_attention_min_keys();
  int64_t slice = attention_slice_bytes();
  ~RestoreAttentionSettings() {
    set_attention_kernel(kernel);
    set_fused_attention_min_keys(min_keys);
    set_attention_slice_bytes(slice);
  }
};

using conv::test::RestoreConvSettings;

}  // namespace difss::sd::test
