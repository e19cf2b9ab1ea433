// Inputs of the PFENet-family models (pspnet_input.hpp).
#include <difss/fss/pspnet_input.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <stdexcept>

namespace difss::fss {

namespace {

const double kMean[3] = {0.485, 0.456, 0.406}, kStd[3] = {0.229, 0.224, 0.225};

void check_image(const at::Tensor& t) {
  if (t.dim() != 3 || t.size(2) != 3 || t.scalar_type() != at::kByte)
    throw std::invalid_argument("image must be uint8 [H, W, 3]");
}
void check_mask(const at::Tensor& t) {
  if (t.dim() != 2 || t.scalar_type() != at::kByte) throw std::invalid_argument("mask must be uint8 [H, W]");
}

// cv2.resize(float image, INTER_LINEAR): [1, 3, H, W] float -> [1, 3, h, w].
at::Tensor resize_float(const at::Tensor& chw, int64_t h, int64_t w) {
  if (chw.size(2) == h && chw.size(3) == w) return chw;
  return at::upsample_bilinear2d(chw, {h, w}, /*align_corners=*/false);
}

// transform.Normalize on 0..255 values: t.sub_(255 * mean).div_(255 * std) per channel.
void normalise_(at::Tensor& x) {
  for (int64_t c = 0; c < 3; ++c) x.select(1, c).sub_(kMean[c] * 255.0).div_(kStd[c] * 255.0);
}

at::Tensor image_float(const at::Tensor& hwc) {
  check_image(hwc);
  return hwc.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat);
}

at::Tensor mask_nearest(const at::Tensor& mask, int64_t h, int64_t w) {
  check_mask(mask);
  at::Tensor m = mask.to(at::kFloat).unsqueeze(0).unsqueeze(0);
  if (m.size(2) != h || m.size(3) != w) m = at::upsample_nearest2d(m, {h, w});
  return m.squeeze(0);
}

}  // namespace

ResizedSize letterbox_size(int64_t H, int64_t W, int64_t size) {
  if (H < 1 || W < 1 || size < 8) throw std::invalid_argument("letterbox: empty image or size < 8");
  int64_t h, w;
  if (H >= W) {
    h = size;
    w = int64_t(double(W) * (double(size) / double(H)));
  } else {
    h = int64_t(double(H) * (double(size) / double(W)));
    w = size;
  }
  // Rounded down to a multiple of 8 (an image thinner than 8 pixels after scaling keeps 0 columns
  // in the official code; one block of 8 is kept here so that something is seen).
  h = std::max<int64_t>(8, h / 8 * 8);
  w = std::max<int64_t>(8, w / 8 * 8);
  return {h, w};
}

at::Tensor letterbox_image(const at::Tensor& hwc, int64_t size) {
  const ResizedSize r = letterbox_size(hwc.size(0), hwc.size(1), size);
  at::Tensor canvas = at::zeros({1, 3, size, size}, at::TensorOptions().dtype(at::kFloat));
  canvas.narrow(2, 0, r.h).narrow(3, 0, r.w).copy_(resize_float(image_float(hwc), r.h, r.w));
  normalise_(canvas);
  return canvas;
}

at::Tensor letterbox_mask(const at::Tensor& mask, int64_t size) {
  const ResizedSize r = letterbox_size(mask.size(0), mask.size(1), size);
  at::Tensor canvas = at::full({1, size, size}, 255.0, at::TensorOptions().dtype(at::kFloat));
  canvas.narrow(1, 0, r.h).narrow(2, 0, r.w).copy_(mask_nearest(mask, r.h, r.w));
  return canvas;
}

at::Tensor stretch_image(const at::Tensor& hwc, int64_t h, int64_t w) {
  at::Tensor x = resize_float(image_float(hwc), h, w).contiguous();
  normalise_(x);
  return x;
}

at::Tensor stretch_mask(const at::Tensor& mask, int64_t h, int64_t w) { return mask_nearest(mask, h, w); }

at::Tensor letterbox_to_original(const at::Tensor& logits, int64_t H, int64_t W) {
  const int64_t L = std::max(H, W);
  at::Tensor y = at::upsample_bilinear2d(logits, {L, L}, /*align_corners=*/true);
  return y.narrow(2, 0, H).narrow(3, 0, W);
}

}  // namespace difss::fss
