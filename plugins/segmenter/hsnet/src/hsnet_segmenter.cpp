#include "hsnet_segmenter.hpp"

#include <difss/fss/plugin_call.hpp>

#include <difss/fss/engines.hpp>
#include <difss/sdk/tensor_torch.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <filesystem>

namespace difss::plugins {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Spatial size of the three HSNet levels (l4, l3, l2) of a square input.
std::array<int64_t, 3> level_sizes(const std::string& backbone, int64_t s) {
  if (backbone == "vgg16") {  // max pools floor: conv4 at /8, conv5 at /16, pool5 at /32
    int64_t p3 = s / 2 / 2 / 2, p4 = p3 / 2, p5 = p4 / 2;
    return {p5, p4, p3};
  }
  int64_t h = ceil_div(ceil_div(s, 2), 2);  // conv1 stride 2 (pad 3, k 7), max pool stride 2 (pad 1, k 3)
  int64_t l2 = ceil_div(h, 2), l3 = ceil_div(l2, 2), l4 = ceil_div(l3, 2);
  return {l4, l3, l2};
}

}  // namespace

bool HSNetSegmenter::size_is_usable(const std::string& backbone, int64_t size, std::string* why) {
  auto lv = level_sizes(backbone, size);
  // Support-dim strides of the squeezing blocks: l4 {2,2,2}, l3 {4,2,2}, l2 {4,4,2}.
  const int64_t strides[3][3] = {{2, 2, 2}, {4, 2, 2}, {4, 4, 2}};
  int64_t out[3];
  for (int l = 0; l < 3; ++l) {
    if (lv[size_t(l)] < 1) {
      if (why) *why = "too small";
      return false;
    }
    int64_t v = lv[size_t(l)];
    for (int k = 0; k < 3; ++k) v = ceil_div(v, strides[l][k]);
    out[l] = v;
  }
  if (out[0] != out[1] || out[1] != out[2]) {
    if (why)
      *why = "the squeezed support sizes of the pyramid levels differ (" + std::to_string(out[0]) + ", " +
             std::to_string(out[1]) + ", " + std::to_string(out[2]) + ")";
    return false;
  }
  return true;
}

sdk::Descriptor HSNetSegmenter::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.segmenter.hsnet";
  d.name = "HSNet";
  d.description =
      "Hypercorrelation Squeeze Network (Min, Kang, Cho, ICCV 2021), a native LibTorch port of "
      "juhongm999/hsnet that loads the official checkpoints (state dict with 'module.' prefix). Images "
      "are resized to image_size x image_size (antialiased bilinear, ImageNet normalisation), masks "
      "with nearest neighbour; logits are resized bilinearly to the query's size. K shots (real and "
      "auxiliary alike, unless aux_weight != 1) vote as in HSNet's predict_mask_nshot. prob: 1 shot = softmax foreground "
      "probability; K > 1 = vote fraction (votes / max(1, largest vote count)); mask = prob >= 0.5.";
  d.version = "1.0.0";
  d.param(sdk::ParamDef::path("checkpoint", "",
                              "HSNet checkpoint (official .pt state dict or .safetensors with the same keys)."));
  d.param(sdk::ParamDef::enumeration("backbone", {"resnet50", "resnet101", "vgg16"}, "resnet50",
                                     "Backbone the checkpoint was trained with."));
  d.param(sdk::ParamDef::path("backbone_weights", "",
                              "Optional torchvision-layout backbone weights; replace the checkpoint's backbone."));
  d.param(sdk::ParamDef::integer("image_size", 400, 64, 2048,
                                 "Side of the square model input (HSNet: 400); must keep the pyramid aligned."));
  d.param(sdk::ParamDef::boolean("fold_batchnorm", true,
                                 "Fold the ResNet backbone's BatchNorms into its convolutions for float32 CPU "
                                 "inference (faster; features agree with the official unfolded computation to "
                                 "float rounding, ~1e-6). false: the official computation."));
  fss::declare_device_params(d);
  fss::declare_aux_weight(d, "HSNet's K-shot vote");
  fss::declare_test_weights_and_ports(d, "Foreground probability (1 shot) or vote fraction (K shots), query size.",
                                      "Foreground mask, query size.");
  return d;
}

HSNetSegmenter::HSNetSegmenter(const sdk::Host& host, const sdk::Params& p)
    : host_(host), aux_weight_(p.real("aux_weight")) {
  fss::HSNetConfig c;
  c.backbone = p.string("backbone");
  c.image_size = p.integer("image_size");
  c.checkpoint = p.string("checkpoint");
  c.backbone_weights = p.string("backbone_weights");
  c.test_weights = p.boolean("test_weights");
  c.fold_batchnorm = p.boolean("fold_batchnorm");
  std::string why;
  if (!size_is_usable(c.backbone, c.image_size, &why))
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "parameter 'image_size' = " + std::to_string(c.image_size) +
                                                     " is not usable with HSNet-" + c.backbone + ": " + why);
  const fss::DevicePrecision dp = fss::device_and_precision(p, &host_);
  c.device = dp.device;
  c.dtype = dp.dtype;
  fss::require_existing_files(p, {"checkpoint", "backbone_weights"});
  c10::InferenceMode guard;
  try {
    engine_ = fss::make_hsnet_engine(c);
  } catch (const std::invalid_argument& e) {
    // Missing/contradictory parameters vs. unreadable or mismatching files.
    const bool io = !c.test_weights && !c.checkpoint.empty();
    throw sdk::Error(io ? DIFSS_ERR_IO : DIFSS_ERR_INVALID_ARGUMENT, e.what());
  }
  if (c.test_weights) host_.warn("HSNet runs with deterministic test weights: its output is meaningless");
}

HSNetSegmenter::~HSNetSegmenter() = default;

sdk::SegmenterOutput HSNetSegmenter::segment(const sdk::SegmenterInput& in, sdk::Call& call) {
  return fss::segment_with(*engine_, in, call, aux_weight_);
}

}  // namespace difss::plugins
