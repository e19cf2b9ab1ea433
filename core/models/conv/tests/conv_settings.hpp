// Restores the process-wide convolution settings (difss/conv/winograd.hpp) a test case changes.
// Shared with the SD tests (core/models/sd/tests/attention_settings.hpp).
#pragma once

#include <difss/conv/winograd.hpp>

#include <cstdint>
#include <string>

namespace difss::conv::test {

struct RestoreConvSettings {
  std::string algorithm = conv_algorithm();
  int64_t min_pixels = winograd_min_pixels();
  int64_t strip_bytes = winograd_strip_bytes();
  ~RestoreConvSettings() {
    set_conv_algorithm(algorithm);
    set_winograd_min_pixels(min_pixels);
    set_winograd_strip_bytes(strip_bytes);
  }
};

}  // namespace difss::conv::test
