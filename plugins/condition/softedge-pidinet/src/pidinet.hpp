// PiDiNet (Su et al., ICCV 2021; github hellozhuo/pidinet, MIT) as ControlNet 1.1's softedge_pidi
// annotator builds it (lllyasviel/ControlNet-v1-1-nightly annotator/pidinet): config "carv4",
// compact dilation modules (dil) and spatial attention (sa), in functional ATen.
//
// The pixel-difference convolutions (cd / ad / rd) are turned into vanilla convolutions at load
// time, as the authors' convert_pidinet does: cd -> 3x3 with the centre tap minus the kernel sum,
// ad -> 3x3 of w - w[3,0,1,6,4,2,7,8,5], rd -> 5x5 (padding 2) with +w on the outer ring and -w
// on the inner one. ControlNet runs the unconverted ops; both are the same function, in fp32 they
// differ by ~1e-6 (see tests/data/README.md).
//
// forward: init conv -> 4 stages of PDC blocks (depthwise PDC conv, ReLU, 1x1; the first block of
// stages 2..4 max-pools 2x2 and adds a 1x1 shortcut with bias) -> per stage: [CDCM: ReLU, 1x1,
// sum of 3x3 convs dilated 5/7/9/11] -> [CSAM: x * sigmoid(3x3(1x1(ReLU(x))))] -> 1x1 to one map,
// bilinear (align_corners = false) to H x W -> classifier 1x1 over the 4 maps = the fused output.
// Every output goes through a sigmoid.
//
// Widths, dil and sa are read from the checkpoint (table5_pidinet: 60 / dil 24 / sa; the tiny and
// small variants and those without dil/sa load too). The pdc layout is always carv4.
#pragma once

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include <array>
#include <filesystem>
#include <vector>

#include <difss/weights/state_dict.hpp>

namespace difss::plugins {

class PiDiNet {
 public:
  // Keys as in table5_pidinet.pth's state_dict, with or without the "module." prefix.
  explicit PiDiNet(const weights::StateDict& sd);
  static PiDiNet from_file(const std::filesystem::path& file);

  // The four side outputs and the fused output, after the sigmoid, each [1, 1, H, W], of a
  // preprocessed input [1, 3, H, W].
  std::array<at::Tensor, 5> forward(const at::Tensor& x) const;

  enum class Preprocess {
    ControlNet,  // ControlNet 1.1 PidiNetDetector: RGB -> BGR, / 255
    Bsds,        // the authors' test loader: RGB, / 255, ImageNet mean/std (their published maps)
  };
  // The fused edge probability (float32 [H, W]) of an RGB uint8 image.
  cv::Mat fused(const cv::Mat& rgb, Preprocess pre) const;

  int width() const { return width_; }
  int dil() const { return dil_; }  // 0 = no CDCM
  bool sa() const { return sa_; }

 private:
  struct Block {
    int stride = 1;
    int pad = 1;         // 1 for 3x3, 2 for the 5x5 of a converted rd conv
    at::Tensor conv1;    // depthwise, converted to a vanilla kernel
    at::Tensor conv2;    // 1x1, no bias
    at::Tensor shortcut_w, shortcut_b;  // stride 2 only
  };
  struct Fuse {
    at::Tensor dil_w, dil_b;                  // CDCM 1x1 (with bias)
    std::array<at::Tensor, 4> dil_convs;      // CDCM 3x3, dilation 5, 7, 9, 11
    at::Tensor att_w1, att_b1, att_w2;        // CSAM
    at::Tensor reduce_w, reduce_b;            // MapReduce 1x1 -> 1
  };
  at::Tensor block(const Block& b, const at::Tensor& x) const;
  at::Tensor side_output(const Fuse& f, const at::Tensor& x, int64_t H, int64_t W) const;

  int width_ = 0, dil_ = 0;
  bool sa_ = false;
  at::Tensor init_w_;
  int init_pad_ = 1;
  std::vector<Block> blocks_;  // 15: block1_1..1_3, 2_1..2_4, 3_1..3_4, 4_1..4_4
  std::array<Fuse, 4> fuse_;
  at::Tensor classifier_w_, classifier_b_;
};

}  // namespace difss::plugins
