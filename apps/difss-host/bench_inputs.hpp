// The inputs `difss-host bench ID` feeds a plugin: synthetic (an image of a given size with a
// blob and its mask, deterministic) or read from the dataset of a pipeline. Loading happens
// here, before any timing.
#pragma once

#include <difss/core/instances.hpp>
#include <difss/core/pipeline.hpp>

#include <opencv2/core.hpp>

#include <string>
#include <vector>

namespace difss::cli {

// One call's input. condition: image + mask; sampler: control (+ prompt); segmenter: image
// (the query) + supports.
struct BenchInput {
  cv::Mat image, mask, control;
  std::vector<cv::Mat> support_images, support_masks;
  int class_id = 1;
  std::string class_name = "object", class_set = "synthetic";
};

struct BenchInputs {
  std::vector<BenchInput> items;  // cycled through by the timed calls
  std::string description;        // printed: what the plugin was fed
};

// Synthetic inputs of `size` (W x H) for a plugin of `kind`; `shots` supports for a segmenter.
BenchInputs synthetic_inputs(difss_kind kind, cv::Size size, int shots);

// Up to `count` inputs from the pipeline's dataset (its first samples, or episodes for a
// segmenter with `shots` supports each, drawn with the pipeline's seed). A sampler's control
// maps come from the pipeline's [condition] plugin when it has one, else from the masks.
BenchInputs dataset_inputs(const Pipeline& p, difss_kind kind, size_t count, int shots);

}  // namespace difss::cli
