// ControlNet's HED annotator network "ControlNetHED_Apache2" (lllyasviel, Apache-2.0; the
// annotator/hed of ControlNet 1.0 that ControlNet4FSS uses), in functional ATen:
//
//   h = x - norm                         x: RGB 0..255 float [1, 3, H, W], norm: learned [1, 3, 1, 1]
//   block k (k = 1..5): [max-pool 2x2 when k > 1] -> n_k x (3x3 conv + ReLU) -> h
//                       side output k = 1x1 conv (C_k -> 1) of h
//   widths 64, 128, 256, 512, 512 and conv counts 2, 2, 3, 3, 3 in the official file
//
// HEDdetector.__call__ then resizes every side output to H x W (cv2 INTER_LINEAR), averages them
// in float32, applies the sigmoid in float64 and keeps (edge * 255).clip(0, 255) as uint8.
//
// Widths and conv counts are read from the checkpoint (keys of ControlNetHED.pth:
// norm, block{k}.convs.{i}.weight/bias, block{k}.projection.weight/bias), so a reduced-width file
// in the same layout loads too (the random-weight parity test uses one).
#pragma once

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include <array>
#include <filesystem>
#include <vector>

#include <difss/weights/state_dict.hpp>

namespace difss::plugins {

class ControlNetHed {
 public:
  // Every key of the layout must be present with a consistent shape and no other key may be;
  // fp16/bf16/fp64 weights become fp32. Throws sdk::Error naming the keys otherwise.
  explicit ControlNetHed(const weights::StateDict& sd);
  static ControlNetHed from_file(const std::filesystem::path& file);

  // The five side outputs ([1, 1, H / 2^k, W / 2^k]) of an RGB 0..255 input [1, 3, H, W] (float32).
  std::array<at::Tensor, 5> forward(const at::Tensor& x) const;

  // HEDdetector.__call__ up to the sigmoid: float64 [H, W] edge probability of an RGB uint8 image.
  cv::Mat edge_probability(const cv::Mat& rgb) const;
  // HEDdetector.__call__: uint8 [H, W] edge map (probability * 255, clipped, truncated).
  cv::Mat detect(const cv::Mat& rgb) const;

  std::array<int, 5> widths() const;
  std::array<int, 5> conv_counts() const;

 private:
  struct Conv {
    at::Tensor weight, bias;
  };
  struct Block {
    std::vector<Conv> convs;
    Conv projection;
  };
  at::Tensor norm_;
  std::array<Block, 5> blocks_;
};

}  // namespace difss::plugins
