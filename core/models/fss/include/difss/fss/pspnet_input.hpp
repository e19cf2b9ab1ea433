// Model inputs of the PFENet family (BAM, HDMNet) from the port conventions (uint8 RGB [H, W, 3]
// images, uint8 [H, W] 0/1/255 masks), as their dataloaders (util/transform.py) prepare them:
//   images: float 0..255, cv2.resize INTER_LINEAR (bilinear, half-pixel centres, no
//           antialiasing), then (x - 255 * mean) / (255 * std) per channel (ImageNet statistics);
//   masks:  cv2.resize INTER_NEAREST.
// BAM's evaluation (transform.Resize, resized_val = True): the longer side to `size`, the other
// side scaled by the same ratio (int()), both rounded DOWN to a multiple of 8, placed at the top
// left of a size x size canvas: image padding 0 before normalisation, mask padding 255.
// Its prediction at the original size (ori_resize = True): the size x size output resized
// (bilinear, align_corners) to L x L, L = max(H, W), and cropped to the top-left H x W.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace difss::fss {

struct ResizedSize {
  int64_t h, w;
};

// find_new_hw of transform.Resize: the letterboxed content size for an H x W image.
ResizedSize letterbox_size(int64_t H, int64_t W, int64_t size);

// hwc uint8 [H, W, 3] -> normalised float32 [1, 3, size, size] (content top-left, zero padding
// before normalisation).
at::Tensor letterbox_image(const at::Tensor& hwc, int64_t size);
// mask uint8 [H, W] -> float32 [1, size, size] with the mask's values (0/1/255), padding 255.
at::Tensor letterbox_mask(const at::Tensor& mask, int64_t size);

// Stretched to h x w (no aspect preservation): normalised float32 [1, 3, h, w] / float32 [1, h, w].
at::Tensor stretch_image(const at::Tensor& hwc, int64_t h, int64_t w);
at::Tensor stretch_mask(const at::Tensor& mask, int64_t h, int64_t w);

// logits [B, C, size, size] of a letterboxed input -> [B, C, H, W] at the original size
// (ori_resize: resize to max(H, W) squared, crop the top-left H x W).
at::Tensor letterbox_to_original(const at::Tensor& logits, int64_t H, int64_t W);

}  // namespace difss::fss
