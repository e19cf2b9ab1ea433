// Where predictions and labels are compared ([evaluation] eval_size, input_size):
//   label        the prediction at the query's size against the label as stored (HSNet's
//                --use_original_imgsize);
//   model_input  the prediction at the segmenter's input size (DIFSS_OUTPUT_MODEL_INPUT, nothing
//                resized back) against the label nearest-resized to input_size x input_size
//                (HSNet's default: 400 x 400; DCAMA 384). A prediction of another size (a segmenter
//                without a fixed input size, or one configured for another size) is
//                nearest-resized to input_size and a warning says so once;
//   input        difss's earlier mode: the prediction at the query's size, and the label, both
//                nearest-resized to input_size x input_size.
#pragma once

#include <opencv2/core.hpp>

#include <atomic>
#include <string>

#include "difss/core/instances.hpp"
#include "difss/core/pipeline.hpp"

namespace difss {

class EvaluationSize {
 public:
  explicit EvaluationSize(const EvaluationSection& e) : mode_(e.eval_size), side_(e.input_size) {}
  // What the segmenter is asked for.
  SegmentOutputSize request() const;
  // The label (0/1/255) at the evaluation size.
  cv::Mat label(const cv::Mat& gt) const;
  // A prediction (0/1) at the evaluation size.
  cv::Mat prediction(const cv::Mat& pred) const;

 private:
  std::string mode_;
  int side_ = 0;
  mutable std::atomic<bool> warned_{false};
};

}  // namespace difss
