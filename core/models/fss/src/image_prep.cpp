#include <difss/fss/image_prep.hpp>

#include <ATen/ATen.h>

#include <stdexcept>

namespace difss::fss {

namespace {
void check_image(const at::Tensor& t) {
  if (t.dim() != 3 || t.size(2) != 3 || t.scalar_type() != at::kByte)
    throw std::invalid_argument("image must be uint8 [H, W, 3]");
}
void check_mask(const at::Tensor& t) {
  if (t.dim() != 2 || t.scalar_type() != at::kByte) throw std::invalid_argument("mask must be uint8 [H, W]");
}
at::Tensor resize_mask(const at::Tensor& mask, int64_t h, int64_t w) {
  check_mask(mask);
  at::Tensor m = mask.to(at::kFloat).unsqueeze(0).unsqueeze(0);
  if (m.size(2) != h || m.size(3) != w) m = at::upsample_nearest2d(m, {h, w});
  return m.squeeze(0);  // [1, h, w]
}
}  // namespace

at::Tensor resize_image_u8(const at::Tensor& hwc, int64_t h, int64_t w) {
  check_image(hwc);
  const int64_t H = hwc.size(0), W = hwc.size(1);
  if (H == h && W == w) return hwc.contiguous();
  // PIL resizes in two passes, horizontal first, each rounded to uint8; a pass with an unchanged
  // size is skipped. (The antialiased kernel at scale 1 is the identity.)
  at::Tensor x = hwc.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat);
  if (W != w) x = at::_upsample_bilinear2d_aa(x, {H, w}, /*align_corners=*/false).round().clamp(0, 255);
  if (H != h) x = at::_upsample_bilinear2d_aa(x, {h, w}, /*align_corners=*/false).round().clamp(0, 255);
  return x.to(at::kByte).squeeze(0).permute({1, 2, 0}).contiguous();
}

at::Tensor prepare_image(const at::Tensor& hwc, int64_t h, int64_t w, const Normalization& n) {
  at::Tensor x = resize_image_u8(hwc, h, w).permute({2, 0, 1}).to(at::kFloat).div_(255.0);
  at::Tensor mean = at::tensor(std::vector<float>{float(n.mean[0]), float(n.mean[1]), float(n.mean[2])}).view({3, 1, 1});
  at::Tensor sd = at::tensor(std::vector<float>{float(n.std[0]), float(n.std[1]), float(n.std[2])}).view({3, 1, 1});
  return ((x - mean) / sd).unsqueeze(0).contiguous();
}

at::Tensor prepare_mask(const at::Tensor& mask, int64_t h, int64_t w) {
  return resize_mask(mask, h, w).eq(1).to(at::kFloat);
}

at::Tensor prepare_valid(const at::Tensor& mask, int64_t h, int64_t w) {
  return resize_mask(mask, h, w).ne(255).to(at::kFloat);
}

}  // namespace difss::fss
