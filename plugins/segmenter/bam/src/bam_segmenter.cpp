#include "bam_segmenter.hpp"

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
  fss::declare_pspnet_family_params(d, "BAM / DifFSS-BAM", 473, 65, "Side of the square model input, 8k + 1 (BAM: 473 PASCAL, 641 COCO).");
  return d;
}

BAMSegmenter::BAMSegmenter(const sdk::Host& host, const sdk::Params& p) : host_(host) {
  const fss::BAMConfig c = fss::pspnet_family_config(p, &host_);
  if ((c.image_size - 1) % 8 != 0)
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "parameter 'image_size' = " + std::to_string(c.image_size) +
                                                     ": BAM needs 8k + 1 (473 PASCAL, 641 COCO)");
  engine_ = fss::build_engine([&] { return fss::make_bam_engine(c); }, !c.test_weights && !c.checkpoint.empty());
  if (c.test_weights) host_.warn("BAM runs with deterministic test weights: its output is meaningless");
}

BAMSegmenter::~BAMSegmenter() = default;

sdk::SegmenterOutput BAMSegmenter::segment(const sdk::SegmenterInput& in, sdk::Call& call) {
  return fss::segment_with(*engine_, in, call);
}

}  // namespace difss::plugins
