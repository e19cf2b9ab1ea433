#include "bam_segmenter.hpp"

#include <difss/fss/pspnet_engines.hpp>
#include <difss/fss/plugin_call.hpp>
#include <difss/fss/plugin_params.hpp>


namespace difss::plugins {

sdk::Descriptor BAMSegmenter::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.segmenter.bam";
  d.name = "BAM";
  d.description =
      "BAM (Lang et al., 'Learning What Not to Segment', CVPR 2022), a native LibTorch port of "
      "chunbolang/BAM that loads the official checkpoints ({'epoch', 'state_dict', 'optimizer'}, with or "
      "without 'module.'), including DifFSS-BAM's (TrinitialChan/DifFSS-BAM: the same model trained with "
      "5 shots = 1 real + 4 auxiliary supports). Images are resized as BAM's evaluation does (longer side "
      "to image_size, both sides rounded down to a multiple of 8, top-left on a zero-padded square); the "
      "prediction is resized to the original size as with ori_resize. The number of supports must equal "
      "'shots' (BAM's K-shot reweighting is trained for one K). prob = softmax foreground probability of "
      "the ensemble; mask = its argmax.";
  d.version = "1.0.0";
  d.param(sdk::ParamDef::path("checkpoint", "", "BAM / DifFSS-BAM checkpoint (.pth as published, or .safetensors with its keys)."));
  d.param(sdk::ParamDef::integer("shots", 1, 1, 64,
                                 "Shots the checkpoint was trained with (its kshot_rw); DifFSS-BAM: 5."));
  d.param(sdk::ParamDef::enumeration("dataset", {"pascal", "coco"}, "pascal",
                                     "Base-learner classes of the checkpoint: pascal = 15 + background, coco = 60 + background."));
  d.param(sdk::ParamDef::integer("kshot_trans_dim", 2, 0, 64, "Hidden channels of kshot_rw (BAM's configs: 2)."));
  d.param(sdk::ParamDef::integer("image_size", 473, 65, 2049,
                                 "Side of the square model input, 8k + 1 (BAM: 473 PASCAL, 641 COCO)."));
  fss::declare_compute_params(d);
  d.input("query", "image", "Query image.");
  d.input("support_images", "image", "K support images (K = shots; real first, then auxiliary).");
  d.input("support_masks", "mask", "K support masks (1 = object; 0 and 255 = background).");
  d.output("prob", "prob", "Foreground probability of BAM's ensemble, at the requested size.");
  d.output("mask", "mask", "Foreground mask (argmax), at the requested size.");
  return d;
}

BAMSegmenter::BAMSegmenter(const sdk::Host& host, const sdk::Params& p) : host_(host) {
  fss::BAMConfig c;
  c.checkpoint = p.string("checkpoint");
  c.shots = p.integer("shots");
  c.classes = p.string("dataset") == "coco" ? 61 : 16;
  c.kshot_trans_dim = p.integer("kshot_trans_dim");
  c.image_size = p.integer("image_size");
  c.test_weights = p.boolean("test_weights");
  if ((c.image_size - 1) % 8 != 0)
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "parameter 'image_size' = " + std::to_string(c.image_size) +
                                                     ": BAM needs 8k + 1 (473 PASCAL, 641 COCO)");
  const fss::Compute compute = fss::compute_from(p);
  c.device = compute.device;
  c.dtype = compute.dtype;
  fss::require_existing(p, "checkpoint");
  engine_ = fss::build_engine([&] { return fss::make_bam_engine(c); }, !c.test_weights && !c.checkpoint.empty());
  if (c.test_weights) host_.warn("BAM runs with deterministic test weights: its output is meaningless");
}

BAMSegmenter::~BAMSegmenter() = default;

sdk::SegmenterOutput BAMSegmenter::segment(const sdk::SegmenterInput& in, sdk::Call& call) {
  return fss::segment_with(*engine_, in, call);
}

}  // namespace difss::plugins
