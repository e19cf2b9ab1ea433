#include <difss/fss/pspnet_engines.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <difss/fss/checkpoint.hpp>
#include <difss/fss/pspnet_input.hpp>

#include <stdexcept>

namespace difss::fss {

Segmentation two_class_output(const at::Tensor& logits) {
  at::Tensor l = logits[0].to(at::kCPU, at::kFloat);
  at::Tensor prob = l.softmax(0)[1].contiguous();
  at::Tensor mask = l[1].gt(l[0]).to(at::kByte).contiguous();  // argmax; ties go to background
  return {prob, mask};
}

namespace {

void require_shots(const std::vector<Shot>& shots, int64_t k, const char* model) {
  if (int64_t(shots.size()) != k)
    throw std::invalid_argument(std::string("this ") + model + " model takes exactly " + std::to_string(k) +
                                " support(s) (got " + std::to_string(shots.size()) +
                                "): its K-shot reweighting (kshot_rw) was trained for " + std::to_string(k));
}

// The K supports as the PSPNet-family forwards take them: images [1, K, 3, S, S] and masks
// [1, K, S, S], each shot prepared by the model's own resize rule.
struct Supports {
  at::Tensor images, masks;
};
template <class PrepImage, class PrepMask>
Supports stack_supports(const std::vector<Shot>& shots, PrepImage prep_image, PrepMask prep_mask,
                        at::Device device, at::ScalarType dtype) {
  std::vector<at::Tensor> imgs, masks;
  for (const auto& s : shots) {
    imgs.push_back(prep_image(s.image));
    masks.push_back(prep_mask(s.mask));
  }
  return {at::cat(imgs).unsqueeze(0).to(device, dtype), at::cat(masks).unsqueeze(0).to(device, dtype)};
}

}  // namespace

BAMEngine::BAMEngine(std::unique_ptr<BAM> net, int64_t size, at::Device device, at::ScalarType dtype)
    : net_(std::move(net)), size_(size), device_(device), dtype_(dtype) {
  net_->to(device_, dtype_);
}

Segmentation BAMEngine::segment_at(const at::Tensor& query, const std::vector<Shot>& shots, int64_t out_h,
                                   int64_t out_w) {
  check_segmenter_inputs(query, shots);
  require_shots(shots, net_->shots(), "BAM");
  c10::InferenceMode guard;
  at::Tensor q = letterbox_image(query, size_).to(device_, dtype_);
  const Supports sup = stack_supports(
      shots, [&](const at::Tensor& im) { return letterbox_image(im, size_); },
      [&](const at::Tensor& m) { return letterbox_mask(m, size_); }, device_, dtype_);
  at::Tensor out = net_->forward(q, sup.images, sup.masks).final_out;
  if (out_h != size_ || out_w != size_) out = letterbox_to_original(out.to(at::kFloat), out_h, out_w);
  return two_class_output(out);
}

std::unique_ptr<BAMEngine> make_bam_engine(const BAMConfig& c) {
  if (c.image_size < 65 || (c.image_size - 1) % 8 != 0)
    throw std::invalid_argument("'image_size' = " + std::to_string(c.image_size) +
                                ": BAM needs 8k + 1 (473 PASCAL, 641 COCO), at least 65");
  auto net = std::make_unique<BAM>(c.shots, c.classes, c.kshot_trans_dim);
  init_or_load(net->named_tensors(), c.checkpoint, c.test_weights, "BAM / DifFSS-BAM");
  return std::make_unique<BAMEngine>(std::move(net), c.image_size, c.device, c.dtype);
}

HDMNetEngine::HDMNetEngine(std::unique_ptr<HDMNet> net, int64_t size, at::Device device, at::ScalarType dtype)
    : net_(std::move(net)), size_(size), device_(device), dtype_(dtype) {
  net_->to(device_, dtype_);
}

Segmentation HDMNetEngine::segment_at(const at::Tensor& query, const std::vector<Shot>& shots, int64_t out_h,
                                      int64_t out_w) {
  check_segmenter_inputs(query, shots);
  require_shots(shots, net_->shots(), "HDMNet");
  c10::InferenceMode guard;
  at::Tensor q = stretch_image(query, size_, size_).to(device_, dtype_);
  const Supports sup = stack_supports(
      shots, [&](const at::Tensor& im) { return stretch_image(im, size_, size_); },
      [&](const at::Tensor& m) { return stretch_mask(m, size_, size_); }, device_, dtype_);
  at::Tensor out = net_->forward(q, sup.images, sup.masks).final_out;
  if (out_h != size_ || out_w != size_) out = resize_bilinear_ac(out.to(at::kFloat), out_h, out_w);
  return two_class_output(out);
}

std::unique_ptr<HDMNetEngine> make_hdmnet_engine(const HDMNetConfig& c) {
  if (c.image_size < 64) throw std::invalid_argument("'image_size' = " + std::to_string(c.image_size) + ": at least 64");
  auto net = std::make_unique<HDMNet>(c.shots, c.classes, c.kshot_trans_dim);
  init_or_load(net->named_tensors(), c.checkpoint, c.test_weights, "HDMNet");
  return std::make_unique<HDMNetEngine>(std::move(net), c.image_size, c.device, c.dtype);
}

}  // namespace difss::fss
