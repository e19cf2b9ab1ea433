// The SDK side of every segmenter plugin built on difss_fss: checks the ports of a
// SegmenterInput, runs an engine on zero-copy views of them and returns owned outputs.
// Header-only (the SDK is), included by the plugins' .cpp files only.
#pragma once

#include <difss/fss/engines.hpp>
#include <difss/sdk/cpu_features.hpp>
#include <difss/sdk/plugin.hpp>
#include <difss/sdk/tensor_torch.hpp>

#include <ATen/Context.h>

#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

namespace difss::fss {

// Declares the 'device' and 'precision' parameters that device_and_precision reads.
inline void declare_device_params(sdk::Descriptor& d) {
  d.param(sdk::ParamDef::enumeration("device", {"cpu", "cuda"}, "cpu", "Where the model runs."));
  d.param(sdk::ParamDef::enumeration("precision", {"fp32", "bf16", "fp16"}, "fp32",
                                     "Compute precision (fp16 needs cuda)."));
}

// The 'device' ("cpu" | "cuda") and 'precision' ("fp32" | "bf16" | "fp16") parameters of a
// segmenter plugin. DIFSS_ERR_UNSUPPORTED for cuda without a CUDA device, fp16 on the CPU. With a
// host, warns when bf16 on this CPU is emulated (far slower than fp32).
struct DevicePrecision {
  at::Device device;
  at::ScalarType dtype;
};
inline DevicePrecision device_and_precision(const sdk::Params& p, const sdk::Host* host = nullptr) {
  const bool cuda = p.string("device") == "cuda";
  if (cuda && !at::hasCUDA())
    throw sdk::Error(DIFSS_ERR_UNSUPPORTED, "parameter 'device' = \"cuda\" but this LibTorch has no usable CUDA device");
  const std::string precision = p.string("precision");
  const at::ScalarType dtype = precision == "bf16" ? at::kBFloat16 : precision == "fp16" ? at::kHalf : at::kFloat;
  if (dtype == at::kHalf && !cuda)
    throw sdk::Error(DIFSS_ERR_UNSUPPORTED, "parameter 'precision' = \"fp16\" needs device = \"cuda\"");
  if (host && dtype == at::kBFloat16 && !cuda) {
    const std::string why = sdk::emulated_bf16_warning();
    if (!why.empty()) host->warn("parameter 'precision' = \"bf16\": " + why);
  }
  return {cuda ? at::Device(at::kCUDA) : at::Device(at::kCPU), dtype};
}

// The parameter and ports every native segmenter declares last: test_weights, the query and K
// supports in, prob and mask out (`prob_text`, `mask_text`: what this model's outputs mean).
inline void declare_test_weights_and_ports(sdk::Descriptor& d, const char* prob_text, const char* mask_text) {
  d.param(sdk::ParamDef::boolean("test_weights", false,
                                 "Use deterministic pseudo-random weights instead of a checkpoint (tests and "
                                 "speed benchmarks only: the output is meaningless)."));
  d.input("query", "image", "Query image.");
  d.input("support_images", "image", "K support images.");
  d.input("support_masks", "mask", "K support masks (1 = object; 0 and 255 = background).");
  d.output("prob", "prob", prob_text);
  d.output("mask", "mask", mask_text);
}

// DIFSS_ERR_NOT_FOUND naming the parameter when a non-empty path parameter names no file.
inline void require_existing_files(const sdk::Params& p, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    const std::string& path = p.string(key);
    if (!path.empty() && !std::filesystem::exists(path))
      throw sdk::Error(DIFSS_ERR_NOT_FOUND, std::string("parameter '") + key + "': file not found: " + path);
  }
}

// The `aux_weight` parameter of the segmenters that combine K shots: how much one auxiliary
// (generated) support counts against a real one; 1 = every shot alike, the official behaviour.
inline void declare_aux_weight(sdk::Descriptor& d, const char* combination) {
  d.param(sdk::ParamDef::real("aux_weight", 1.0, 0.0, 100.0,
                              std::string("Weight of each auxiliary (generated) support, marked by the host's "
                                          "support_is_auxiliary, relative to a real support's 1 in ") +
                                  combination +
                                  ". 1 (default) = the official equal treatment; 0 = ignore auxiliary supports; "
                                  "e.g. 0.25 with 4 auxiliary supports per real one: together they count as one real "
                                  "support."));
}

inline sdk::SegmenterOutput segment_with(SegmenterEngine& engine, const sdk::SegmenterInput& in, sdk::Call& call,
                                         double aux_weight = 1.0) {
  sdk::require_port(in.query, "query", DIFSS_FORMAT_IMAGE);
  std::vector<Shot> shots;
  for (size_t k = 0; k < in.shots(); ++k) {
    sdk::require_port(*in.support_images[k], "support_images[" + std::to_string(k) + "]", DIFSS_FORMAT_IMAGE);
    sdk::require_port(*in.support_masks[k], "support_masks[" + std::to_string(k) + "]", DIFSS_FORMAT_MASK);
    const bool aux = k < in.support_is_auxiliary.size() && in.support_is_auxiliary[k];
    shots.push_back({sdk::as_tensor(*in.support_images[k]), sdk::as_tensor(*in.support_masks[k]), aux ? aux_weight : 1.0});
  }
  if (aux_weight == 0.0) {  // weight 0 = leave them out (a vote needs a positive weight)
    std::vector<Shot> real;
    for (auto& s : shots)
      if (s.weight > 0) real.push_back(s);
    if (!real.empty()) shots.swap(real);
  }
  call.check_cancelled();
  // Where the prediction is wanted: the query's size, the model's input size (no resize back,
  // HSNet's default evaluation) or an explicit size.
  int64_t out_h = in.query_height(), out_w = in.query_width();
  if (in.output_size == DIFSS_OUTPUT_MODEL_INPUT && engine.input_size() > 0) {
    out_h = out_w = engine.input_size();
  } else if (in.output_size == DIFSS_OUTPUT_EXPLICIT) {
    out_h = in.output_height;
    out_w = in.output_width;
  }
  Segmentation r;
  try {
    r = engine.segment_at(sdk::as_tensor(in.query), shots, out_h, out_w);
  } catch (const std::invalid_argument& e) {
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, e.what());
  }
  sdk::SegmenterOutput out;
  out.prob = sdk::to_owned(r.prob);
  out.mask = sdk::to_owned(r.mask);
  return out;
}

}  // namespace difss::fss
