#include "hdmnet_segmenter.hpp"

#include <difss/fss/plugin_call.hpp>
#include <difss/fss/plugin_params.hpp>
#include <difss/fss/pspnet_engines.hpp>

namespace difss::plugins {

sdk::Descriptor HDMNetSegmenter::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.segmenter.hdmnet";
  d.name = "HDMNet";
  d.description =
      "HDMNet (Peng et al., 'Hierarchical Dense Correlation Distillation for Few-Shot Segmentation', "
      "CVPR 2023), a native LibTorch port of Pbihao/HDMNet (the mmcv/mmseg blocks re-implemented) that "
      "loads the official checkpoints ({'epoch', 'state_dict', ...}, with or without 'module.'). Images are "
      "stretched to image_size x image_size as HDMNet's evaluation does; the prediction is resized "
      "(bilinear, align_corners) to the requested size. The number of supports must equal 'shots'; with "
      "K > 1 the official K-shot weighting is replicated, quirk included (weights of the sorted Gram "
      "distances applied in input order). prob = softmax foreground probability; mask = argmax.";
  d.version = "1.0.0";
  d.param(sdk::ParamDef::path("checkpoint", "", "HDMNet checkpoint (.pth as published, or .safetensors with its keys)."));
  d.param(sdk::ParamDef::integer("shots", 1, 1, 64, "Shots the checkpoint was trained with (its kshot_rw)."));
  d.param(sdk::ParamDef::enumeration("dataset", {"pascal", "coco"}, "pascal",
                                     "Base-learner classes of the checkpoint: pascal = 15 + background, coco = 60 + background."));
  d.param(sdk::ParamDef::integer("kshot_trans_dim", 2, 0, 64, "Hidden channels of kshot_rw (HDMNet's configs: 2)."));
  d.param(sdk::ParamDef::integer("image_size", 473, 64, 2048, "Side of the square model input (HDMNet: 473 PASCAL, 633 COCO)."));
  fss::declare_compute_params(d);
  d.input("query", "image", "Query image.");
  d.input("support_images", "image", "K support images (K = shots; real first, then auxiliary).");
  d.input("support_masks", "mask", "K support masks (1 = object; 0 and 255 = background).");
  d.output("prob", "prob", "Foreground probability of HDMNet's ensemble, at the requested size.");
  d.output("mask", "mask", "Foreground mask (argmax), at the requested size.");
  return d;
}

HDMNetSegmenter::HDMNetSegmenter(const sdk::Host& host, const sdk::Params& p) : host_(host) {
  fss::HDMNetConfig c;
  c.checkpoint = p.string("checkpoint");
  c.shots = p.integer("shots");
  c.classes = p.string("dataset") == "coco" ? 61 : 16;
  c.kshot_trans_dim = p.integer("kshot_trans_dim");
  c.image_size = p.integer("image_size");
  c.test_weights = p.boolean("test_weights");
  const fss::Compute compute = fss::compute_from(p);
  c.device = compute.device;
  c.dtype = compute.dtype;
  fss::require_existing(p, "checkpoint");
  engine_ = fss::build_engine([&] { return fss::make_hdmnet_engine(c); }, !c.test_weights && !c.checkpoint.empty());
  if (c.test_weights) host_.warn("HDMNet runs with deterministic test weights: its output is meaningless");
}

HDMNetSegmenter::~HDMNetSegmenter() = default;

sdk::SegmenterOutput HDMNetSegmenter::segment(const sdk::SegmenterInput& in, sdk::Call& call) {
  return fss::segment_with(*engine_, in, call);
}

}  // namespace difss::plugins
