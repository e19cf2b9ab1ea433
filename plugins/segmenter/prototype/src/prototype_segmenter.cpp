#include "prototype_segmenter.hpp"

#include <difss/fss/plugin_call.hpp>

#include <difss/fss/engines.hpp>
#include <difss/sdk/tensor_torch.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <filesystem>

namespace difss::plugins {

sdk::Descriptor PrototypeSegmenter::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.segmenter.prototype";
  d.name = "Prototype matching (training-free)";
  d.description =
      "Training-free few-shot segmenter: cosine similarity between the query's features and the "
      "supports' foreground/background features (masked average prototypes, or nearest support "
      "feature) at one or more layers of an ImageNet backbone: any ONNX network run by OpenCV's dnn "
      "module (e.g. the int8 MobileNetV2 of the ONNX Model Zoo), or a LibTorch ResNet/VGG with "
      "torchvision weights. A pixel is foreground when it is closer to the foreground than to the "
      "background (parameter-free; Otsu or a fixed threshold on request). prob = sigmoid(temperature * "
      "margin).";
  d.version = "1.0.0";
  d.param(sdk::ParamDef::enumeration("backbone", {"onnx", "resnet18", "resnet34", "resnet50", "resnet101", "vgg16"},
                                     "onnx", "Feature network: an ONNX file (model) or a torchvision architecture."));
  d.param(sdk::ParamDef::path("model", "",
                              "The .onnx file (backbone = onnx) or torchvision-layout weights (.pth/.safetensors)."));
  d.param(sdk::ParamDef::string("layers", "",
                                "Comma-separated layer names to match at (empty: onnx = " +
                                    std::string(fss::kDefaultMobileNetV2Layers) +
                                    " (MobileNetV2-12-int8), resnets = layer2,layer3, vgg16 = features.22,features.29); a wrong "
                                    "name lists the model's layers."));
  d.param(sdk::ParamDef::integer("image_size", fss::kDefaultPrototypeSize, 32, 2048,
                                 "Images are resized to image_size x image_size."));
  d.param(sdk::ParamDef::enumeration("matching", {"prototype", "nearest"}, "prototype",
                                     "prototype: masked average pooling; nearest: best-matching support feature."));
  d.param(sdk::ParamDef::enumeration("fusion", {"mean", "max"}, "mean",
                                     "K shots (prototype matching): average the prototypes, or take the best shot per pixel."));
  d.param(sdk::ParamDef::enumeration("rule", {"fg-vs-bg", "otsu", "threshold"}, "fg-vs-bg",
                                     "Foreground when s_fg > s_bg, when s_fg > Otsu's threshold, or when s_fg > threshold."));
  d.param(sdk::ParamDef::real("threshold", 0.5, -1.0, 1.0, "Cosine threshold for rule = threshold."));
  d.param(sdk::ParamDef::real("temperature", 20.0, 0.01, 1000.0, "prob = sigmoid(temperature * margin)."));
  fss::declare_aux_weight(d, "the mean of the shots' prototypes (fusion = mean; max fusion ignores it)");
  d.param(sdk::ParamDef::boolean("test_weights", false,
                                 "Torch backbones: deterministic pseudo-random weights instead of 'model' (tests, benchmarks)."));
  d.input("query", "image", "Query image.");
  d.input("support_images", "image", "K support images.");
  d.input("support_masks", "mask", "K support masks (1 = object, 0 = background, 255 = ignored).");
  d.output("prob", "prob", "sigmoid(temperature * margin) at the query's size.");
  d.output("mask", "mask", "prob > 0.5.");
  return d;
}

PrototypeSegmenter::PrototypeSegmenter(const sdk::Host& host, const sdk::Params& p)
    : host_(host), aux_weight_(p.real("aux_weight")) {
  fss::PrototypeConfig c;
  c.backbone = p.string("backbone");
  c.model = p.string("model");
  c.test_weights = p.boolean("test_weights");
  c.layers = fss::split_list(p.string("layers"));
  if (c.layers.empty()) {
    if (c.backbone == "onnx") c.layers = fss::split_list(fss::kDefaultMobileNetV2Layers);
    else if (c.backbone == "vgg16") c.layers = {"features.22", "features.29"};
    else c.layers = {"layer2", "layer3"};
  }
  c.image_size = p.integer("image_size");
  c.options.matching = p.string("matching") == "nearest" ? fss::PrototypeOptions::Matching::nearest
                                                          : fss::PrototypeOptions::Matching::prototype;
  c.options.fusion = p.string("fusion") == "max" ? fss::PrototypeOptions::Fusion::max : fss::PrototypeOptions::Fusion::mean;
  const std::string rule = p.string("rule");
  c.options.rule = rule == "otsu" ? fss::PrototypeOptions::Rule::otsu
                   : rule == "threshold" ? fss::PrototypeOptions::Rule::threshold
                                         : fss::PrototypeOptions::Rule::fg_vs_bg;
  c.options.threshold = p.real("threshold");
  c.options.temperature = p.real("temperature");
  if (c.backbone == "onnx" && c.test_weights)
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "parameter 'test_weights' applies to torch backbones, not onnx");
  if (!c.model.empty() && !std::filesystem::exists(c.model))
    throw sdk::Error(DIFSS_ERR_NOT_FOUND, "parameter 'model': file not found: " + c.model);
  c10::InferenceMode guard;
  try {
    engine_ = fss::make_prototype_engine(c);
  } catch (const std::invalid_argument& e) {
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, e.what());
  }
}

PrototypeSegmenter::~PrototypeSegmenter() = default;

sdk::SegmenterOutput PrototypeSegmenter::segment(const sdk::SegmenterInput& in, sdk::Call& call) {
  return fss::segment_with(*engine_, in, call, aux_weight_);
}

}  // namespace difss::plugins
