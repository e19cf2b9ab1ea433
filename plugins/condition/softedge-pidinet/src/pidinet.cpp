#include "pidinet.hpp"

#include <difss/condition/checkpoint.hpp>
#include <difss/condition/tensor_mat.hpp>
#include <difss/sdk/error.hpp>
#include <difss/weights/bind.hpp>
#include <difss/weights/error.hpp>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>

#include <string>

namespace difss::plugins {

namespace {

enum class Pdc { cv, cd, ad, rd };
// "carv4": layer i (0 = init block, 1..15 = the blocks) uses cd, ad, rd, cv in turn.
Pdc carv4(int layer) {
  static constexpr Pdc order[4] = {Pdc::cd, Pdc::ad, Pdc::rd, Pdc::cv};
  return order[layer % 4];
}

// convert_pidinet's convert_pdc: the equivalent vanilla kernel of a pixel difference conv.
at::Tensor convert_pdc(Pdc op, const at::Tensor& w) {
  const int64_t o = w.size(0), i = w.size(1);
  at::Tensor flat = w.reshape({o, i, 9});
  switch (op) {
    case Pdc::cv: return w.contiguous();
    case Pdc::cd: {
      at::Tensor out = flat.clone();
      out.select(2, 4).sub_(w.sum({2, 3}));
      return out.view({o, i, 3, 3});
    }
    case Pdc::ad: {
      at::Tensor idx = at::tensor({3, 0, 1, 6, 4, 2, 7, 8, 5}, at::kLong);
      return (flat - flat.index_select(2, idx)).view({o, i, 3, 3});
    }
    case Pdc::rd: {
      at::Tensor buffer = at::zeros({o, i, 25}, w.options());
      at::Tensor ring = flat.slice(2, 1, 9);
      buffer.index_copy_(2, at::tensor({0, 2, 4, 10, 14, 20, 22, 24}, at::kLong), ring);
      buffer.index_copy_(2, at::tensor({6, 7, 8, 11, 13, 16, 17, 18}, at::kLong), -ring);
      return buffer.view({o, i, 5, 5});
    }
  }
  return w;
}

// Every convolution of the forward. At inference on the CPU the activations are channels-last and
// the convolution is oneDNN's, called directly: ATen would send the 1x1 convolutions of a batch-1
// input on one thread to its im2col + BLAS path, and depthwise / small-channel dilated convolutions
// in NCHW run 2.5-4x slower than in NHWC (measured with the same ATen ops at 512x512: depthwise
// 3x3 over 60 channels 128 -> 31 ms, CDCM's dilated 24-channel 3x3 65 -> 24 ms). Same function,
// float rounding apart.
at::Tensor conv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b = {}, int64_t pad = 0,
                int64_t dilation = 1, int64_t groups = 1) {
  if (at::GradMode::is_enabled() || !at::hasMKLDNN() || !x.device().is_cpu() || x.scalar_type() != at::kFloat)
    return at::conv2d(x, w, b, {1, 1}, {pad, pad}, {dilation, dilation}, groups);
  return at::mkldnn_convolution(x.contiguous(at::MemoryFormat::ChannelsLast), w, b, {pad, pad}, {1, 1},
                                {dilation, dilation}, groups);
}

const char* kBlockNames[15] = {"block1_1", "block1_2", "block1_3", "block2_1", "block2_2",
                               "block2_3", "block2_4", "block3_1", "block3_2", "block3_3",
                               "block3_4", "block4_1", "block4_2", "block4_3", "block4_4"};

}  // namespace

PiDiNet::PiDiNet(const weights::StateDict& raw) {
  weights::StateDict sd = weights::strip_prefix(raw, "module.");
  const at::Tensor* init = sd.find("init_block.weight");
  if (!init || init->dim() != 4 || init->size(1) != 3)
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT,
                     "PiDiNet: " + raw.source() + ": no 'init_block.weight' of shape [C, 3, k, k] (is this a "
                     "PiDiNet checkpoint such as table5_pidinet.pth?)");
  width_ = int(init->size(0));
  if (width_ <= 0 || width_ > 1024)
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "PiDiNet: implausible width " + std::to_string(width_));
  if (const at::Tensor* d = sd.find("dilations.0.conv1.weight"); d && d->dim() == 4) dil_ = int(d->size(0));
  sa_ = sd.contains("attentions.0.conv1.weight");
  const int64_t C = width_, D = dil_;

  // Raw (unconverted) weights land here first; every key and shape is checked at once.
  std::vector<weights::Slot> slots;
  at::Tensor init_raw;
  slots.push_back({"init_block.weight", &init_raw, {C, 3, 3, 3}});
  blocks_.resize(15);
  std::vector<at::Tensor> conv1_raw(15);
  const int64_t stage_in[15] = {C, C, C, C, 2 * C, 2 * C, 2 * C, 2 * C, 4 * C, 4 * C, 4 * C, 4 * C, 4 * C, 4 * C, 4 * C};
  const int64_t stage_out[15] = {C, C, C, 2 * C, 2 * C, 2 * C, 2 * C, 4 * C, 4 * C, 4 * C, 4 * C, 4 * C, 4 * C, 4 * C, 4 * C};
  for (int b = 0; b < 15; ++b) {
    Block& blk = blocks_[size_t(b)];
    const std::string n = kBlockNames[b];
    const int64_t in = stage_in[b], out = stage_out[b];
    blk.stride = (b == 3 || b == 7 || b == 11) ? 2 : 1;
    slots.push_back({n + ".conv1.weight", &conv1_raw[size_t(b)], {in, 1, 3, 3}});
    slots.push_back({n + ".conv2.weight", &blk.conv2, {out, in, 1, 1}});
    if (blk.stride > 1) {
      slots.push_back({n + ".shortcut.weight", &blk.shortcut_w, {out, in, 1, 1}});
      slots.push_back({n + ".shortcut.bias", &blk.shortcut_b, {out}});
    }
  }
  const int64_t planes[4] = {C, 2 * C, 4 * C, 4 * C};
  for (int i = 0; i < 4; ++i) {
    Fuse& f = fuse_[size_t(i)];
    const std::string s = std::to_string(i);
    int64_t q = planes[i];
    if (dil_) {
      slots.push_back({"dilations." + s + ".conv1.weight", &f.dil_w, {D, q, 1, 1}});
      slots.push_back({"dilations." + s + ".conv1.bias", &f.dil_b, {D}});
      for (int k = 0; k < 4; ++k)
        slots.push_back({"dilations." + s + ".conv2_" + std::to_string(k + 1) + ".weight", &f.dil_convs[size_t(k)], {D, D, 3, 3}});
      q = D;
    }
    if (sa_) {
      slots.push_back({"attentions." + s + ".conv1.weight", &f.att_w1, {4, q, 1, 1}});
      slots.push_back({"attentions." + s + ".conv1.bias", &f.att_b1, {4}});
      slots.push_back({"attentions." + s + ".conv2.weight", &f.att_w2, {1, 4, 3, 3}});
    }
    slots.push_back({"conv_reduces." + s + ".conv.weight", &f.reduce_w, {1, q, 1, 1}});
    slots.push_back({"conv_reduces." + s + ".conv.bias", &f.reduce_b, {1}});
  }
  slots.push_back({"classifier.weight", &classifier_w_, {1, 4, 1, 1}});
  slots.push_back({"classifier.bias", &classifier_b_, {1}});
  try {  // every key, shape and dtype checked at once; float tensors become fp32
    weights::bind_state_dict(sd, slots);
  } catch (const weights::WeightError& e) {
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "PiDiNet: " + std::string(e.what()));
  }

  c10::InferenceMode guard;
  init_w_ = convert_pdc(carv4(0), init_raw);
  init_pad_ = carv4(0) == Pdc::rd ? 2 : 1;
  for (int b = 0; b < 15; ++b) {
    const Pdc op = carv4(b + 1);
    blocks_[size_t(b)].conv1 = convert_pdc(op, conv1_raw[size_t(b)]);
    blocks_[size_t(b)].pad = op == Pdc::rd ? 2 : 1;
  }
}

PiDiNet PiDiNet::from_file(const std::filesystem::path& file) { return PiDiNet(condition::load_checkpoint(file)); }

at::Tensor PiDiNet::block(const Block& b, const at::Tensor& x_in) const {
  at::Tensor x = b.stride > 1 ? at::max_pool2d(x_in, {2, 2}, {2, 2}) : x_in;
  at::Tensor y = conv(x, b.conv1, {}, b.pad, 1, x.size(1));
  y = conv(at::relu_(y), b.conv2);
  if (b.stride > 1) x = conv(x, b.shortcut_w, b.shortcut_b);
  return y.add_(x);
}

at::Tensor PiDiNet::side_output(const Fuse& f, const at::Tensor& x, int64_t H, int64_t W) const {
  at::Tensor y = x;
  if (dil_) {
    at::Tensor h = conv(at::relu(x), f.dil_w, f.dil_b);
    static constexpr int64_t rates[4] = {5, 7, 9, 11};
    y = conv(h, f.dil_convs[0], {}, rates[0], rates[0]);
    for (int k = 1; k < 4; ++k) y = y + conv(h, f.dil_convs[size_t(k)], {}, rates[k], rates[k]);
  }
  if (sa_) {
    at::Tensor a = conv(at::relu(y), f.att_w1, f.att_b1);
    a = at::sigmoid(conv(a, f.att_w2, {}, 1));
    y = y * a;
  }
  at::Tensor e = conv(y, f.reduce_w, f.reduce_b);
  return at::upsample_bilinear2d(e, {H, W}, /*align_corners=*/false);
}

std::array<at::Tensor, 5> PiDiNet::forward(const at::Tensor& x) const {
  c10::InferenceMode guard;
  const int64_t H = x.size(2), W = x.size(3);
  at::Tensor h = conv(x, init_w_, {}, init_pad_);
  std::array<at::Tensor, 5> out;
  size_t b = 0;
  const int per_stage[4] = {3, 4, 4, 4};
  for (int s = 0; s < 4; ++s) {
    for (int k = 0; k < per_stage[s]; ++k) h = block(blocks_[b++], h);
    out[size_t(s)] = side_output(fuse_[size_t(s)], h, H, W);
  }
  out[4] = conv(at::cat({out[0], out[1], out[2], out[3]}, 1), classifier_w_, classifier_b_);
  for (auto& t : out) t = at::sigmoid(t).contiguous();
  return out;
}

cv::Mat PiDiNet::fused(const cv::Mat& rgb, Preprocess pre) const {
  c10::InferenceMode guard;
  at::Tensor x;
  if (pre == Preprocess::ControlNet) {
    x = condition::image_to_nchw_float(rgb, /*bgr=*/true) / 255.0;  // torch ops as in the annotator
  } else {
    at::Tensor mean = at::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1});
    at::Tensor stdv = at::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1});
    x = condition::image_to_nchw_float(rgb).div(255).sub_(mean).div_(stdv);  // ToTensor + Normalize
  }
  return condition::plane_to_mat(forward(x)[4]);
}

}  // namespace difss::plugins
