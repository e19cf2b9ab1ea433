// Restores the process-wide attention settings (attention.hpp) and convolution settings
// (difss/conv/winograd.hpp) that a test case changes.
#pragma once

#include <difss/conv/winograd.hpp>
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

struct RestoreConvSettings {
  std::string algorithm = conv::conv_algorithm();
  int64_t min_pixels = conv::winograd_min_pixels();
  ~RestoreConvSettings() {
    conv::set_conv_algorithm(algorithm);
    conv::set_winograd_min_pixels(min_pixels);
  }
};

}  // namespace difss::sd::test
