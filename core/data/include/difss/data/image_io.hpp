// Image and mask reading/writing with the conventions the FSS benchmarks need.
//
// Label maps (PASCAL, COCO) are read as the stored values: the palette INDICES of a palette PNG
// (OpenCV's imread would expand them to colours), the grey values of a greyscale PNG. Binary
// masks (FSS-1000, folder) accept 0/1 and 0/255 encodings alike (see read_binary_mask).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <vector>

#include <opencv2/core.hpp>

namespace difss::data {

// Largest image or mask difss reads (width * height); larger headers are rejected as hostile.
inline constexpr std::int64_t kMaxImagePixels = 100'000'000;

// Width and height from the file header (PNG, JPEG; other formats are decoded). The raw stored
// size: EXIF orientation is not applied, as in PIL (which the official code uses).
cv::Size read_image_size(const std::filesystem::path& path);

// RGB uint8 HxWx3. EXIF orientation is NOT applied (PIL's Image.open doesn't either, and the
// benchmark masks are aligned with the stored pixels). Throws naming the path if unreadable.
cv::Mat read_image_rgb(const std::filesystem::path& path);

// A PNG label map as CV_8UC1: palette indices for palette PNGs, values for greyscale PNGs
// (1/2/4-bit unpacked, 16-bit kept when <= 255 else scaled >> 8, alpha dropped). Colour PNGs
// are rejected: a label map must store class indices.
cv::Mat read_label_png(const std::filesystem::path& path);

// A binary mask as CV_8UC1 with 0 = background, 1 = foreground, 255 = ignore:
//  - palette PNG: index 0 -> 0, index 255 -> 255 (ignore), any other index -> 1;
//  - greyscale (or colour, converted with PIL's "L" weights): if every value is <= 1 the values
//    are used as they are (0/1 masks), otherwise value >= 128 -> 1 (HSNet's FSS-1000 rule).
// Any format read_mask_values reads (PNG, JPEG, BMP, TIFF, WebP).
cv::Mat read_binary_mask(const std::filesystem::path& path);

// The stored values of a mask file of any format, as CV_8UC1, with whether they are palette
// indices. PNG through libpng (as read_label_png, but colour PNGs are converted with PIL's "L"
// weights); JPEG, BMP, TIFF, WebP through OpenCV (colour -> PIL "L" weights, alpha dropped,
// 16-bit kept when <= 255 else >> 8). Throws naming the path if unreadable.
struct MaskValues {
  cv::Mat values;
  bool palette = false;
};
MaskValues read_mask_values(const std::filesystem::path& path);
// read_binary_mask's rule applied to values already read.
cv::Mat binarize_mask(const MaskValues& mask);

// The 256-colour PASCAL VOC palette (index i -> RGB).
const std::vector<std::array<std::uint8_t, 3>>& voc_palette();

// Writes a CV_8UC1 label map as an 8-bit palette PNG (atomically). Palette defaults to VOC's.
void write_label_png(const std::filesystem::path& path, const cv::Mat& labels,
                     const std::vector<std::array<std::uint8_t, 3>>& palette = voc_palette());

// Nearest-neighbour resize with exactly PyTorch's F.interpolate(mode='nearest') index rule
// (src = min(floor(dst * float(in/out)), in-1) in float32), which HSNet uses for every mask.
// cv::INTER_NEAREST differs from it on some sizes. Works for any single- or multi-channel Mat.
cv::Mat resize_nearest(const cv::Mat& src, cv::Size size);

// Binary mask of one class from a label map: 1 where label == class_value, 0 elsewhere, and,
// when keep_ignore, 255 where label == 255 (PASCAL's boundary, ignored by the metrics).
cv::Mat class_mask(const cv::Mat& labels, int class_value, bool keep_ignore);

}  // namespace difss::data
