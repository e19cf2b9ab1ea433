// DCAMA as a complete segmenter on port-convention tensors (what the dcama plugin wraps), and
// loading the official checkpoints by name.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <difss/fss/dcama.hpp>
#include <difss/fss/engines.hpp>
#include <difss/weights/bind.hpp>

namespace difss::fss {

struct DCAMAConfig {
  std::string backbone = "resnet50";  // resnet50 | resnet101 | swin-b
  std::string checkpoint;             // official best_model.pt (DDP "module." keys) or .safetensors
  std::string backbone_weights;       // optional: torchvision/timm ResNet .pth, or Swin's checkpoint (its ['model'])
  bool test_weights = false;          // deterministic pseudo-random weights instead (tests/benchmarks)
  int64_t image_size = 384;
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
};

// Binds an official DCAMA checkpoint to `net` by name: "module." stripped; classifier heads,
// num_batches_tracked, the positional-encoding tables and Swin's derived buffers ignored; every
// other key must match a model tensor in name and shape (else std::invalid_argument naming the
// file and each problem). learner_only: only "model.*" is required (the backbone comes from its
// own file).
weights::BindReport load_dcama_checkpoint(DCAMA& net, const std::string& path, bool learner_only = false);
// A backbone file as DCAMA's constructor loads it: a torchvision-layout ResNet state dict, or the
// Swin checkpoint (its "model" entry is found automatically). Keys bound by name.
weights::BindReport load_dcama_backbone(DCAMA& net, const std::string& path);

struct DCAMAPrediction {
  at::Tensor prob;  // float32 [B, H, W]: softmax foreground probability
  at::Tensor mask;  // uint8 [B, H, W]: argmax (as the official predict_mask_nshot)
};
// Logits [B, 2, h, w] -> resized bilinearly (align_corners=True) to out_size unless already
// there, softmax / argmax.
DCAMAPrediction dcama_predict(const at::Tensor& logits, std::array<int64_t, 2> out_size);

// DCAMA at image_size x image_size; K shots are one attention over all shots' pixels.
class DCAMAEngine final : public SegmenterEngine {
 public:
  DCAMAEngine(std::unique_ptr<DCAMA> net, int64_t image_size, at::Device device = at::kCPU,
              at::ScalarType dtype = at::kFloat);
  Segmentation segment_at(const at::Tensor& query, const std::vector<Shot>& shots, int64_t out_h,
                          int64_t out_w) override;
  int64_t input_size() const override { return size_; }
  DCAMA& net() { return *net_; }
  // What loading bound (empty with test weights): checkpoint, then the backbone file if any.
  std::vector<weights::BindReport> load_reports;

 private:
  std::unique_ptr<DCAMA> net_;
  int64_t size_;
  at::Device device_;
  at::ScalarType dtype_;
};

// Errors: std::invalid_argument naming the setting or file.
std::unique_ptr<DCAMAEngine> make_dcama_engine(const DCAMAConfig& config);

}  // namespace difss::fss
