// Internal: raw PNG decode/encode with libpng (palette indices kept, no colour expansion).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace difss::data::detail {

struct RawPng {
  int width = 0;
  int height = 0;
  int color_type = 0;  // PNG_COLOR_TYPE_* of the file
  int bit_depth = 0;   // of the file
  int channels = 0;    // of `pixels` (palette: 1 index per pixel)
  bool sixteen = false;  // `pixels` holds native-endian uint16 samples
  std::vector<std::uint8_t> pixels;  // row-major, tightly packed
};

// Decodes a PNG file. Throws std::runtime_error naming the path on any error.
RawPng read_png(const std::filesystem::path& path);

// Encodes an 8-bit single-channel image as a palette PNG into memory.
std::vector<unsigned char> encode_palette_png(int width, int height, const std::uint8_t* data,
                                              std::size_t stride,
                                              const std::vector<std::uint8_t>& palette_rgb);

}  // namespace difss::data::detail
