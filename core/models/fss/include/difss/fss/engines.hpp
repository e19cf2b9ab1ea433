// Complete segmenters on port-convention tensors (what the plugins wrap, and what the benchmark
// and evaluation commands call directly): query + K supports in, prob + mask at the query's size
// out.
//   image: uint8 [H, W, 3] RGB; mask: uint8 [H, W], 1 = object, 0 = background, 255 = ignore.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include <difss/fss/hsnet.hpp>
#include <difss/fss/image_prep.hpp>
#include <difss/fss/prototype.hpp>

namespace difss::fss {

struct Shot {
  at::Tensor image;  // uint8 [H, W, 3]
  at::Tensor mask;   // uint8 [H, W]
  // How much this shot counts when K shots are combined (HSNet: its vote; prototypes: its share
  // of the mean). 1 for every shot = the official combination. The plugins set it from the
  // ABI's support_is_auxiliary and their `aux_weight` parameter (segment_with).
  double weight = 1.0;
};

struct Segmentation {
  at::Tensor prob;  // float32 [H, W] (query size), CPU
  at::Tensor mask;  // uint8 [H, W], 0/1, CPU
};

class SegmenterEngine {
 public:
  virtual ~SegmenterEngine() = default;
  // Prediction at the query's size. Runs under c10::InferenceMode. Throws std::invalid_argument
  // for inputs of the wrong type or a mask whose size differs from its image.
  Segmentation segment(const at::Tensor& query, const std::vector<Shot>& shots) {
    return segment_at(query, shots, query.size(0), query.size(1));
  }
  // Prediction at out_h x out_w: the model's output resized there as the query size would be
  // (at input_size() x input_size() nothing is resized back, as HSNet's default evaluation).
  virtual Segmentation segment_at(const at::Tensor& query, const std::vector<Shot>& shots,
                                  int64_t out_h, int64_t out_w) = 0;
  // The square size the model sees its inputs at (0 when it has none).
  virtual int64_t input_size() const = 0;
};

// HSNet at image_size x image_size (see predict_nshot for what prob means with K shots).
class HSNetEngine final : public SegmenterEngine {
 public:
  HSNetEngine(std::unique_ptr<HSNet> net, int64_t image_size, at::Device device = at::kCPU,
              at::ScalarType dtype = at::kFloat);
  Segmentation segment_at(const at::Tensor& query, const std::vector<Shot>& shots, int64_t out_h,
                          int64_t out_w) override;
  int64_t input_size() const override { return size_; }
  HSNet& net() { return *net_; }

 private:
  std::unique_ptr<HSNet> net_;
  int64_t size_;
  at::Device device_;
  at::ScalarType dtype_;
};

// Training-free matching (prototype.hpp) at image_size x image_size.
class PrototypeEngine final : public SegmenterEngine {
 public:
  PrototypeEngine(std::unique_ptr<FeatureExtractor> extractor, int64_t image_size, PrototypeOptions options = {},
                  Normalization norm = {});
  Segmentation segment_at(const at::Tensor& query, const std::vector<Shot>& shots, int64_t out_h,
                          int64_t out_w) override;
  int64_t input_size() const override { return size_; }
  // The full result (similarity maps too) for analysis, at the query's size or out_h x out_w.
  PrototypeResult run(const at::Tensor& query, const std::vector<Shot>& shots, int64_t out_h = -1,
                      int64_t out_w = -1);
  FeatureExtractor& extractor() { return *fx_; }

 private:
  std::unique_ptr<FeatureExtractor> fx_;
  int64_t size_;
  PrototypeOptions opt_;
  Normalization norm_;
};

// Building engines from plain settings (the plugins map their parameters onto these; the
// benchmark/evaluation commands their flags). Errors: std::invalid_argument naming the setting.
struct HSNetConfig {
  std::string backbone = "resnet50";  // resnet50 | resnet101 | vgg16
  std::string checkpoint;             // official state dict (.pt with "module." keys, or .safetensors)
  std::string backbone_weights;       // optional torchvision-layout backbone; replaces the checkpoint's
  bool test_weights = false;          // deterministic pseudo-random weights instead (tests/benchmarks)
  // ResNet BatchNorms folded into the convolutions for inference (Backbone::fold_for_inference):
  // faster; features agree with the official unfolded computation to float rounding.
  bool fold_batchnorm = true;
  int64_t image_size = 400;
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
};
std::unique_ptr<HSNetEngine> make_hsnet_engine(const HSNetConfig& config);

// Defaults of the prototype plugin with the int8 MobileNetV2 of the ONNX Model Zoo: the outputs of
// the last residual additions at stride 16 (96 channels) and stride 32 (160 channels), i.e. the
// linear-bottleneck residual stream (see docs/MODELS.md: chosen on the coco128-seg classes that are
// not among the 17 reported ones, with the alternatives).
inline constexpr const char* kDefaultMobileNetV2Layers = "Add_72_quant,Add_89_quant";
inline constexpr int64_t kDefaultPrototypeSize = 320;

struct PrototypeConfig {
  std::string backbone = "onnx";  // onnx | resnet18 | resnet34 | resnet50 | resnet101 | vgg16
  std::string model;              // onnx: the .onnx file; others: torchvision-layout weights
  bool test_weights = false;      // torch backbones only: deterministic pseudo-random weights
  std::vector<std::string> layers;
  int64_t image_size = 224;
  PrototypeOptions options;
};
std::unique_ptr<PrototypeEngine> make_prototype_engine(const PrototypeConfig& config);

// "a,b , c" -> {"a", "b", "c"}
std::vector<std::string> split_list(const std::string& text);

// Checks the port conventions of a query and its shots (throws std::invalid_argument naming the
// offending input).
void check_segmenter_inputs(const at::Tensor& query, const std::vector<Shot>& shots);

}  // namespace difss::fss
