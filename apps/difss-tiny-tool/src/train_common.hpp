// Small pieces shared by the trainers: Adam, the learning-rate schedule, per-item random
// streams, image <-> tensor conversion, manifests.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

namespace difss::train {

// Adam (Kingma & Ba) with decoupled weight decay, on plain tensors.
class Adam {
 public:
  Adam(std::vector<at::Tensor> params, double weight_decay = 0.0);
  void zero_grad();
  // Clips the global gradient norm to `max_norm` (<= 0: no clipping); returns the norm before.
  double clip_grad_norm(double max_norm);
  void step(double lr);

 private:
  std::vector<at::Tensor> params_, m_, v_;
  double b1_ = 0.9, b2_ = 0.999, eps_ = 1e-8, wd_ = 0;
  int t_ = 0;
};

// Linear warm-up, then cosine decay to 10 % of `lr`.
double lr_at(int step, int steps, int warmup, double lr);

// SplitMix64 stream of one (seed, purpose, index) triple: the data of step s never depends on
// how many steps ran before (re-runs and shorter runs see the same first batches).
class Stream {
 public:
  Stream(std::uint64_t seed, std::uint64_t purpose, std::uint64_t index);
  std::uint64_t next();
  std::uint64_t below(std::uint64_t n);
  double uniform();  // [0, 1)

 private:
  std::uint64_t s_;
};

// uint8 RGB [H, W, 3] -> float [3, H, W] in [-1, 1] (or [0, 1] when unit01).
at::Tensor image_to_tensor(const cv::Mat& rgb, bool unit01 = false);
// uint8 [H, W] -> float [H, W] with 1 where the mask is 1.
at::Tensor mask_to_tensor(const cv::Mat& mask01);
cv::Mat tensor_to_image(const at::Tensor& hwc_u8);  // uint8 [H, W, 3] -> cv::Mat (copy)

// IoU of two 0/1 masks (1 when both are empty).
double mask_iou(const cv::Mat& a01, const cv::Mat& b01);

// The sd-palette control map of a mask: background (120, 120, 120), foreground `rgb`.
cv::Mat palette_control(const cv::Mat& mask01, const std::array<uint8_t, 3>& rgb);

// Object colours: a 4x4x4 RGB histogram of the pixels under a 0/1 mask, normalised to sum 1
// (zeros when the mask is empty); the total-variation distance of two (0 = same colours, 1 =
// disjoint); the mean distance over all pairs of a set.
using ColourHistogram = std::array<double, 64>;
ColourHistogram colour_histogram(const cv::Mat& rgb, const cv::Mat& mask01);
double histogram_distance(const ColourHistogram& a, const ColourHistogram& b);
double histogram_spread(const std::vector<ColourHistogram>& hs);

// JSON with the common manifest fields (command line, seed, commit, threads, LibTorch version).
nlohmann::json manifest_header(const std::string& command, std::uint64_t seed, int threads);
void write_text_file(const std::string& path, const std::string& text);

}  // namespace difss::train
