#include "cyctr_segmenter.hpp"

#include <difss/fss/cyctr_engine.hpp>
#include <difss/fss/plugin_call.hpp>
#include <difss/fss/plugin_params.hpp>

namespace difss::plugins {

sdk::Descriptor CyCTRSegmenter::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.segmenter.cyctr";
  d.name = "CyCTR";
  d.description =
      "CyCTR (Zhang et al., 'Few-Shot Segmentation via Cycle-Consistent Transformer', NeurIPS 2021), a native "
      "LibTorch port of YanFangCS/CyCTR-Pytorch with its multi-scale deformable attention on the CPU. Loads the "
      "official checkpoints ({'epoch', 'state_dict', 'optimizer'}, with or without 'module.'). Images are resized as "
      "its evaluation does (longer side to image_size, multiples of 8, top-left on a padded square, with the padding "
      "masks); the prediction is resized to the original size as with ori_resize. The sparse sampling of support "
      "tokens is seeded: per episode from 'seed' and the inputs (default), or as the official code draws after "
      "torch.manual_seed(seed) (sampling = fidelity). prob = softmax foreground probability; mask = its argmax.";
  d.version = "1.0.0";
  d.param(sdk::ParamDef::path("checkpoint", "", "CyCTR checkpoint (.pth as published, or .safetensors with its keys)."));
  d.param(sdk::ParamDef::path("backbone", "",
                              "Optional resnet50_v2.pth (PFENet's ImageNet ResNet-50 v2) for backbone.body.*; the "
                              "checkpoint's own backbone tensors are then ignored (CyCTR trains with it frozen)."));
  d.param(sdk::ParamDef::integer("shots", 1, 1, 64, "K: the number of supports the model takes (1 real + 4 auxiliary = 5 for DifFSS)."));
  d.param(sdk::ParamDef::integer("image_size", 473, 65, 2049, "Side of the square model input, 8k + 1 (473 PASCAL, 641 COCO)."));
  d.param(sdk::ParamDef::integer("per_shot", 300, 1, 100000,
                                 "Support tokens sampled of each kind (foreground, background) per shot (official: 300)."));
  d.param(sdk::ParamDef::integer("seed", 123, 0, (int64_t(1) << 62), "Seed of the sparse sampling (test.py: manual_seed 123)."));
  d.param(sdk::ParamDef::enumeration(
      "sampling", {"episode", "fidelity"}, "episode",
      "episode: each call draws from a generator seeded with 'seed' and a hash of its inputs (the same episode always "
      "gives the same prediction, in any order or process); fidelity: one generator seeded once with 'seed', drawn "
      "from call after call as the official code draws from torch's after torch.manual_seed(seed)."));
  fss::declare_device_params(d);
  fss::declare_test_weights_and_ports(d, "Foreground probability (softmax of the two logits), at the requested size.",
                                      "Foreground mask (argmax), at the requested size.");
  return d;
}

CyCTRSegmenter::CyCTRSegmenter(const sdk::Host& host, const sdk::Params& p) : host_(host) {
  fss::CyCTRConfig c;
  c.checkpoint = p.string("checkpoint");
  c.backbone = p.string("backbone");
  c.test_weights = p.boolean("test_weights");
  c.shots = p.integer("shots");
  c.image_size = p.integer("image_size");
  c.per_shot = p.integer("per_shot");
  c.seed = uint64_t(p.integer("seed"));
  c.sampling = p.string("sampling") == "fidelity" ? fss::SamplingMode::fidelity : fss::SamplingMode::episode;
  const fss::DevicePrecision compute = fss::device_and_precision(p, &host_);
  c.device = compute.device;
  c.dtype = compute.dtype;
  fss::require_existing_files(p, {"checkpoint", "backbone"});
  if ((c.image_size - 1) % 8 != 0)
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "parameter 'image_size' = " + std::to_string(c.image_size) +
                                                     ": CyCTR needs 8k + 1 (473 PASCAL, 641 COCO)");
  const bool reads = !c.test_weights && !c.checkpoint.empty();
  engine_ = fss::build_engine([&] { return fss::make_cyctr_engine(c); }, reads || !c.backbone.empty());
  if (c.test_weights) host_.warn("CyCTR runs with deterministic test weights: its output is meaningless");
}

CyCTRSegmenter::~CyCTRSegmenter() = default;

sdk::SegmenterOutput CyCTRSegmenter::segment(const sdk::SegmenterInput& in, sdk::Call& call) {
  return fss::segment_with(*engine_, in, call);
}

}  // namespace difss::plugins
