#include "dcama_segmenter.hpp"

#include <difss/fss/dcama_engine.hpp>
#include <difss/fss/plugin_call.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <filesystem>

namespace difss::plugins {

sdk::Descriptor DCAMASegmenter::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.segmenter.dcama";
  d.name = "DCAMA";
  d.description =
      "Dense Cross-Query-and-Support Attention Weighted Mask Aggregation (Shi et al., ECCV 2022), a "
      "native LibTorch port of pawn-sxy/DCAMA that loads the official checkpoints by name (best_model.pt "
      "of DDP training: 'module.feature_extractor.*', 'module.model.*'). Images are resized to "
      "image_size x image_size (antialiased bilinear, ImageNet normalisation), masks with nearest "
      "neighbour. K shots (real and auxiliary alike) form one attention over all shots' pixels, as the "
      "official predict_mask_nshot. prob: softmax foreground probability; mask: argmax.";
  d.version = "1.0.0";
  d.param(sdk::ParamDef::path("checkpoint", "",
                              "DCAMA checkpoint (official best_model.pt or .safetensors with the same keys)."));
  d.param(sdk::ParamDef::enumeration("backbone", {"resnet50", "resnet101", "swin-b"}, "resnet50",
                                     "Backbone the checkpoint was trained with (swin-b: Swin-B, patch 4, window 12)."));
  d.param(sdk::ParamDef::path("backbone_weights", "",
                              "Optional backbone file as DCAMA's --feature_extractor_path (ResNet: "
                              "resnet50_a1h / torchvision layout; Swin: the 22k->1k checkpoint, its 'model' "
                              "entry); replaces the checkpoint's backbone."));
  d.param(sdk::ParamDef::integer("image_size", 384, 64, 2048,
                                 "Side of the square model input (DCAMA: 384); a multiple of 32, and for swin-b "
                                 "one whose stages Swin's 12x12 windows tile (384, 768, ...)."));
  d.param(sdk::ParamDef::enumeration("device", {"cpu", "cuda"}, "cpu", "Where the model runs (cuda: untested)."));
  d.param(sdk::ParamDef::enumeration("precision", {"fp32", "bf16"}, "fp32",
                                     "Compute precision (bf16: for CPUs with native bf16)."));
  fss::declare_test_weights_and_ports(d, "Foreground probability (softmax), query size.",
                                      "Foreground mask (argmax), query size.");
  return d;
}

DCAMASegmenter::DCAMASegmenter(const sdk::Host& host, const sdk::Params& p) : host_(host) {
  fss::DCAMAConfig c;
  c.backbone = p.string("backbone");
  c.image_size = p.integer("image_size");
  c.checkpoint = p.string("checkpoint");
  c.backbone_weights = p.string("backbone_weights");
  c.test_weights = p.boolean("test_weights");
  const fss::DevicePrecision dp = fss::device_and_precision(p, &host_);
  c.device = dp.device;
  c.dtype = dp.dtype;
  fss::require_existing_files(p, {"checkpoint", "backbone_weights"});
  c10::InferenceMode guard;
  try {
    engine_ = fss::make_dcama_engine(c);
  } catch (const std::invalid_argument& e) {
    // Missing/contradictory parameters vs. unreadable or mismatching files.
    const bool io = !c.test_weights && !c.checkpoint.empty() && std::filesystem::exists(c.checkpoint);
    throw sdk::Error(io ? DIFSS_ERR_IO : DIFSS_ERR_INVALID_ARGUMENT, e.what());
  }
  for (const auto& r : engine_->load_reports)
    host_.info("DCAMA: " + r.source + ": " + std::to_string(r.bound.size()) + " tensors bound by name, " +
               std::to_string(r.ignored.size()) + " ignored (heads, counters, derived buffers)");
  if (c.test_weights) host_.warn("DCAMA runs with deterministic test weights: its output is meaningless");
}

DCAMASegmenter::~DCAMASegmenter() = default;

sdk::SegmenterOutput DCAMASegmenter::segment(const sdk::SegmenterInput& in, sdk::Call& call) {
  return fss::segment_with(*engine_, in, call);
}

}  // namespace difss::plugins
