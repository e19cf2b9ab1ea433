// BAM and HDMNet as complete segmenters on port tensors (what org.difss.segmenter.bam / .hdmnet
// wrap), with each model's evaluation input handling (pspnet_input.hpp) and its prediction at the
// original size (ori_resize) or at the model input:
//   BAM:    letterbox to image_size (multiple-of-8 content, padding); output resized to
//           max(H, W) squared and cropped;
//   HDMNet: stretched to image_size x image_size; output resized to H x W (align_corners).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

#include <difss/fss/bam.hpp>
#include <difss/fss/hdmnet.hpp>
#include <difss/fss/engines.hpp>

namespace difss::fss {

class BAMEngine final : public SegmenterEngine {
 public:
  BAMEngine(std::unique_ptr<BAM> net, int64_t image_size, at::Device device = at::kCPU,
            at::ScalarType dtype = at::kFloat);
  // K supports must equal the model's shots (a 5-shot DifFSS-BAM model: 1 real + 4 auxiliary).
  // out_h x out_w: the query's original size (or any size standing for it): the image_size output
  // resized to max(out_h, out_w) squared and cropped, as BAM's test.py with ori_resize; at
  // image_size x image_size the letterboxed output itself.
  // prob = softmax foreground probability of the ensemble's output; mask = its argmax.
  Segmentation segment_at(const at::Tensor& query, const std::vector<Shot>& shots, int64_t out_h,
                          int64_t out_w) override;
  int64_t input_size() const override { return size_; }
  BAM& net() { return *net_; }

 private:
  std::unique_ptr<BAM> net_;
  int64_t size_;
  at::Device device_;
  at::ScalarType dtype_;
};

struct BAMConfig {
  std::string checkpoint;  // official {'epoch', 'state_dict', 'optimizer'} (.pth, "module." or not) or .safetensors
  bool test_weights = false;  // deterministic pseudo-random weights (tests/benchmarks)
  int64_t shots = 1;          // the K the checkpoint was trained with (DifFSS-BAM: 5)
  int64_t classes = 16;       // base learner outputs: 16 PASCAL-5i, 61 COCO-20i
  int64_t kshot_trans_dim = 2;
  int64_t image_size = 473;   // BAM: 473 PASCAL, 641 COCO
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
};
// Errors: std::invalid_argument naming the setting or the file and keys.
std::unique_ptr<BAMEngine> make_bam_engine(const BAMConfig& config);

class HDMNetEngine final : public SegmenterEngine {
 public:
  HDMNetEngine(std::unique_ptr<HDMNet> net, int64_t image_size, at::Device device = at::kCPU,
               at::ScalarType dtype = at::kFloat);
  // K supports must equal the model's shots. Output: the image_size result resized (bilinear,
  // align_corners) to out_h x out_w, as HDMNet's test.py; nothing resized at image_size.
  Segmentation segment_at(const at::Tensor& query, const std::vector<Shot>& shots, int64_t out_h,
                          int64_t out_w) override;
  int64_t input_size() const override { return size_; }
  HDMNet& net() { return *net_; }

 private:
  std::unique_ptr<HDMNet> net_;
  int64_t size_;
  at::Device device_;
  at::ScalarType dtype_;
};

// The same settings (image_size: HDMNet 473 PASCAL, 633 COCO; any size >= 64).
using HDMNetConfig = BAMConfig;
std::unique_ptr<HDMNetEngine> make_hdmnet_engine(const HDMNetConfig& config);

// Converts an engine's two-class logits [1, 2, h, w] into the port outputs (softmax foreground
// probability, argmax mask) on the CPU.
Segmentation two_class_output(const at::Tensor& logits);

}  // namespace difss::fss
