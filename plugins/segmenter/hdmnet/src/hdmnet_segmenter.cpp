#include "hdmnet_segmenter.hpp"

#include <difss/fss/plugin_call.hpp>
#include <difss/fss/plugin_params.hpp>

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
  fss::declare_pspnet_family_params(d, "HDMNet", 473, 64, "Side of the square model input (HDMNet: 473 PASCAL, 633 COCO).");
  return d;
}

HDMNetSegmenter::HDMNetSegmenter(const sdk::Host& host, const sdk::Params& p) : host_(host) {
  const fss::BAMConfig c = fss::pspnet_family_config(p, &host_);
  engine_ = fss::build_engine([&] { return fss::make_hdmnet_engine(c); }, !c.test_weights && !c.checkpoint.empty());
  if (c.test_weights) host_.warn("HDMNet runs with deterministic test weights: its output is meaningless");
}

HDMNetSegmenter::~HDMNetSegmenter() = default;

sdk::SegmenterOutput HDMNetSegmenter::segment(const sdk::SegmenterInput& in, sdk::Call& call) {
  return fss::segment_with(*engine_, in, call);
}

}  // namespace difss::plugins
