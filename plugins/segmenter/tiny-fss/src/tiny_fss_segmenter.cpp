#include "tiny_fss_segmenter.hpp"

#include <difss/fss/plugin_call.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <difss/sdk/owned_tensor.hpp>
#include <difss/sdk/tensor_torch.hpp>
#include <difss/tiny/fss.hpp>

#include <filesystem>

namespace difss::plugins {

namespace fs = std::filesystem;

std::string TinyFssSegmenter::default_checkpoint(const sdk::Host& host, const std::string& model) {
  return host.beside_plugin(model == "varied" ? "tiny-fss/varied/tiny_fss.safetensors" : "tiny-fss/tiny_fss.safetensors");
}

sdk::Descriptor TinyFssSegmenter::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.segmenter.tiny-fss";
  d.name = "Tiny HSNet (embedded default)";
  d.description =
      "The embedded default segmenter: HSNet (the same code as org.difss.segmenter.hsnet, difss_fss) on a "
      "narrow ResNet (basic blocks, width 16), trained end to end by difss on 1-shot episodes of the base "
      "classes of the procedural `synthetic` dataset (difss-tiny-tool train fss). Images are resized to the "
      "model's 64x64; K shots vote as in HSNet's predict_mask_nshot (auxiliary ones with weight aux_weight, "
      "1 = all alike as in HSNet). It "
      "demonstrates the pipeline; it is not HSNet's published model.";
  d.version = "1.0.0";
  d.param(sdk::ParamDef::path("checkpoint", "",
                              "Weights (.safetensors from difss-tiny-tool train fss); empty: the committed model "
                              "beside the plugin chosen by 'model'."));
  d.param(sdk::ParamDef::enumeration("model", {"classic", "varied"}, "classic",
                                     "The committed model used when checkpoint is empty: classic (trained on the "
                                     "synthetic dataset's classic world; tiny-fss/tiny_fss.safetensors) or varied "
                                     "(trained on world = \"varied\"; tiny-fss/varied/)."));
  fss::declare_aux_weight(d, "HSNet's K-shot vote");
  d.input("query", "image", "Query image.");
  d.input("support_images", "image", "K support images.");
  d.input("support_masks", "mask", "K support masks (1 = object; 0 and 255 = background).");
  d.output("prob", "prob", "Foreground probability (1 shot) or vote fraction (K shots), query size.");
  d.output("mask", "mask", "Foreground mask, query size.");
  return d;
}

TinyFssSegmenter::TinyFssSegmenter(const sdk::Host& host, const sdk::Params& p)
    : host_(host), aux_weight_(p.real("aux_weight")) {
  std::string ckpt = p.string("checkpoint");
  const bool given = !ckpt.empty();
  if (!given) ckpt = default_checkpoint(host, p.string("model"));
  if (!fs::exists(ckpt))
    throw sdk::Error(DIFSS_ERR_NOT_FOUND,
                     given ? "checkpoint: file not found: " + ckpt
                           : "the committed tiny model is missing: " + ckpt +
                                 " (build the plugin so its models are copied, or set checkpoint)");
  c10::InferenceMode guard;
  try {
    model_ = std::make_unique<tiny::TinyFss>(tiny::load_tiny_fss(ckpt));
  } catch (const std::exception& e) {
    throw sdk::Error(DIFSS_ERR_IO, sdk::trim_backtrace(e.what()));
  }
  host_.info("loaded " + ckpt + " (input " + std::to_string(model_->config.image_size) + " px)");
}

TinyFssSegmenter::~TinyFssSegmenter() = default;

sdk::SegmenterOutput TinyFssSegmenter::segment(const sdk::SegmenterInput& in, sdk::Call& call) {
  return fss::segment_with(*model_->engine, in, call, aux_weight_);
}

}  // namespace difss::plugins
