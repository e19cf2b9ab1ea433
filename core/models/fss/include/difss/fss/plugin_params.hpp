// Parameters shared by the PSPNet-family segmenter plugins (bam, hdmnet): where the model runs
// (device, precision), deterministic test weights, and building the engine with the plugins'
// error statuses. Header-only (the SDK is), included by the plugins' .cpp files only.
#pragma once

#include <difss/fss/plugin_call.hpp>
#include <difss/fss/pspnet_engines.hpp>
#include <difss/sdk/plugin.hpp>

#include <ATen/Context.h>
#include <c10/core/InferenceMode.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace difss::fss {

inline void declare_compute_params(sdk::Descriptor& d) {
  declare_device_params(d);
  d.param(sdk::ParamDef::boolean("test_weights", false,
                                 "Use deterministic pseudo-random weights instead of a checkpoint (tests and "
                                 "speed benchmarks only: the output is meaningless)."));
}

// Runs make() (an engine factory throwing std::invalid_argument) under InferenceMode; its errors
// become I/O errors when a checkpoint file was read, invalid arguments otherwise.
template <class Make>
auto build_engine(Make&& make, bool reads_checkpoint) {
  c10::InferenceMode guard;
  try {
    return make();
  } catch (const std::invalid_argument& e) {
    throw sdk::Error(reads_checkpoint ? DIFSS_ERR_IO : DIFSS_ERR_INVALID_ARGUMENT, e.what());
  }
}

// The parameters of the PSPNet-family plugins (BAM, HDMNet): checkpoint, shots, dataset,
// kshot_trans_dim, image_size (default_size, at least min_size) and the compute parameters.
inline void declare_pspnet_family_params(sdk::Descriptor& d, const std::string& model, int64_t default_size,
                                         int64_t min_size, const std::string& size_help) {
  d.param(sdk::ParamDef::path("checkpoint", "", model + " checkpoint (.pth as published, or .safetensors with its keys)."));
  d.param(sdk::ParamDef::integer("shots", 1, 1, 64, "Shots the checkpoint was trained with (its kshot_rw)."));
  d.param(sdk::ParamDef::enumeration("dataset", {"pascal", "coco"}, "pascal",
                                     "Base-learner classes of the checkpoint: pascal = 15 + background, coco = 60 + background."));
  d.param(sdk::ParamDef::integer("kshot_trans_dim", 2, 0, 64, "Hidden channels of kshot_rw (the published configs: 2)."));
  d.param(sdk::ParamDef::integer("image_size", default_size, min_size, 2049, size_help));
  declare_compute_params(d);
  d.input("query", "image", "Query image.");
  d.input("support_images", "image", "K support images (K = shots; real first, then auxiliary).");
  d.input("support_masks", "mask", "K support masks (1 = object; 0 and 255 = background).");
  d.output("prob", "prob", "Foreground probability of the learner ensemble, at the requested size.");
  d.output("mask", "mask", "Foreground mask (argmax), at the requested size.");
}

// `host`, when given, hears the warning about emulated bf16 (device_and_precision).
inline BAMConfig pspnet_family_config(const sdk::Params& p, const sdk::Host* host = nullptr) {
  BAMConfig c;
  c.checkpoint = p.string("checkpoint");
  c.shots = p.integer("shots");
  c.classes = p.string("dataset") == "coco" ? 61 : 16;
  c.kshot_trans_dim = p.integer("kshot_trans_dim");
  c.image_size = p.integer("image_size");
  c.test_weights = p.boolean("test_weights");
  const DevicePrecision compute = device_and_precision(p, host);
  c.device = compute.device;
  c.dtype = compute.dtype;
  require_existing_files(p, {"checkpoint"});
  return c;
}

}  // namespace difss::fss
