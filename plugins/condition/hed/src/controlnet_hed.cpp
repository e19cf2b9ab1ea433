#include "controlnet_hed.hpp"

#include <difss/condition/checkpoint.hpp>
#include <difss/condition/tensor_mat.hpp>
#include <difss/sdk/error.hpp>
#include <difss/weights/bind.hpp>
#include <difss/weights/error.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <string>

namespace difss::plugins {

namespace {
std::string key(int block, const std::string& rest) { return "block" + std::to_string(block) + "." + rest; }

int64_t dim_of(const weights::StateDict& sd, const std::string& name, int d) {
  const at::Tensor* t = sd.find(name);
  if (!t)
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "ControlNetHED: " + sd.source() + ": missing key '" + name +
                                                     "' (is this ControlNetHED.pth, the annotator of ControlNet?)");
  if (t->dim() <= d)
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT,
                     "ControlNetHED: " + sd.source() + ": '" + name + "' has too few dimensions");
  return t->size(d);
}
}  // namespace

ControlNetHed::ControlNetHed(const weights::StateDict& sd) {
  std::vector<weights::Slot> slots;
  slots.push_back({"norm", &norm_, {1, 3, 1, 1}});
  int64_t in = 3;
  for (int b = 0; b < 5; ++b) {
    Block& blk = blocks_[b];
    int n = 0;
    while (sd.contains(key(b + 1, "convs." + std::to_string(n) + ".weight"))) ++n;
    if (n == 0) dim_of(sd, key(b + 1, "convs.0.weight"), 0);  // throws "missing key"
    const int64_t c = dim_of(sd, key(b + 1, "convs.0.weight"), 0);
    if (c <= 0 || c > 4096)
      throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "ControlNetHED: " + sd.source() + ": implausible width " +
                                                       std::to_string(c) + " of block " + std::to_string(b + 1));
    blk.convs.resize(size_t(n));
    for (int i = 0; i < n; ++i) {
      const std::string p = key(b + 1, "convs." + std::to_string(i) + ".");
      slots.push_back({p + "weight", &blk.convs[size_t(i)].weight, {c, i == 0 ? in : c, 3, 3}});
      slots.push_back({p + "bias", &blk.convs[size_t(i)].bias, {c}});
    }
    slots.push_back({key(b + 1, "projection.weight"), &blk.projection.weight, {1, c, 1, 1}});
    slots.push_back({key(b + 1, "projection.bias"), &blk.projection.bias, {1}});
    in = c;
  }
  try {  // every key, shape and dtype checked at once; float tensors become fp32
    weights::bind_state_dict(sd, slots);
  } catch (const weights::WeightError& e) {
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "ControlNetHED: " + std::string(e.what()));
  }
}

ControlNetHed ControlNetHed::from_file(const std::filesystem::path& file) {
  return ControlNetHed(condition::load_checkpoint(file));
}

std::array<int, 5> ControlNetHed::widths() const {
  std::array<int, 5> w{};
  for (int b = 0; b < 5; ++b) w[b] = int(blocks_[b].projection.weight.size(1));
  return w;
}

std::array<int, 5> ControlNetHed::conv_counts() const {
  std::array<int, 5> n{};
  for (int b = 0; b < 5; ++b) n[b] = int(blocks_[b].convs.size());
  return n;
}

std::array<at::Tensor, 5> ControlNetHed::forward(const at::Tensor& x) const {
  c10::InferenceMode guard;
  std::array<at::Tensor, 5> out;
  at::Tensor h = x - norm_;
  for (int b = 0; b < 5; ++b) {
    if (b > 0) h = at::max_pool2d(h, {2, 2}, {2, 2});
    for (const Conv& c : blocks_[b].convs) {
      h = at::conv2d(h, c.weight, c.bias, {1, 1}, {1, 1});
      h.relu_();
    }
    out[b] = at::conv2d(h, blocks_[b].projection.weight, blocks_[b].projection.bias);
  }
  return out;
}

cv::Mat ControlNetHed::edge_probability(const cv::Mat& rgb) const {
  const int H = rgb.rows, W = rgb.cols;
  std::array<at::Tensor, 5> side = forward(condition::image_to_nchw_float(rgb));
  // np.mean(np.stack(resized, axis=2), axis=2) in float32: ((((e1 + e2) + e3) + e4) + e5) / 5
  cv::Mat sum;
  for (int b = 0; b < 5; ++b) {
    cv::Mat e = condition::plane_to_mat(side[b]), r;
    cv::resize(e, r, cv::Size(W, H), 0, 0, cv::INTER_LINEAR);
    if (b == 0) sum = r;
    else sum += r;
  }
  cv::Mat prob(H, W, CV_64F);
  for (int y = 0; y < H; ++y) {
    const float* s = sum.ptr<float>(y);
    double* p = prob.ptr<double>(y);
    for (int x = 0; x < W; ++x) {
      const float mean = s[x] / 5.0f;
      p[x] = 1.0 / (1.0 + std::exp(-double(mean)));
    }
  }
  return prob;
}

cv::Mat ControlNetHed::detect(const cv::Mat& rgb) const {
  cv::Mat prob = edge_probability(rgb);
  cv::Mat out(prob.size(), CV_8U);
  for (int y = 0; y < prob.rows; ++y) {
    const double* p = prob.ptr<double>(y);
    uint8_t* o = out.ptr<uint8_t>(y);
    for (int x = 0; x < prob.cols; ++x) o[x] = uint8_t(std::min(255.0, std::max(0.0, p[x] * 255.0)));
  }
  return out;
}

}  // namespace difss::plugins
