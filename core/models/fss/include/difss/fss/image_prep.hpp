// From the port conventions (uint8 RGB [H, W, 3] images, uint8 [H, W] 0/1/255 masks) to model
// inputs, as HSNet's dataloader does it:
//   image: resized to (h, w) with antialiased bilinear interpolation (what PIL's
//          Image.resize(BILINEAR) inside torchvision's Resize does), rounded to uint8 like PIL,
//          then /255 and normalised per channel with mean/std.
//   mask:  resized with nearest neighbour (F.interpolate(mode='nearest')); foreground = value 1;
//          0 and 255 (ignore) both count as background for the support, as in HSNet.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>

namespace difss::fss {

struct Normalization {
  std::array<double, 3> mean{0.485, 0.456, 0.406};  // ImageNet, on RGB / 255
  std::array<double, 3> std{0.229, 0.224, 0.225};
};

// hwc: uint8 [H, W, 3] (any strides). Returns float32 [1, 3, h, w] on the CPU.
at::Tensor prepare_image(const at::Tensor& hwc, int64_t h, int64_t w, const Normalization& norm = {});

// PIL-like antialiased bilinear resize of uint8 [H, W, 3] -> uint8 [h, w, 3] (rounded).
at::Tensor resize_image_u8(const at::Tensor& hwc, int64_t h, int64_t w);

// mask: uint8 [H, W]. Returns float32 [1, h, w] with 1 where the resized mask is 1, else 0.
at::Tensor prepare_mask(const at::Tensor& mask, int64_t h, int64_t w);
// float32 [1, h, w]: 1 where the resized mask is not 255 (pixels with a known label).
at::Tensor prepare_valid(const at::Tensor& mask, int64_t h, int64_t w);

}  // namespace difss::fss
