#include "difss/core/evaluation_size.hpp"

#include <difss/data/image_io.hpp>

#include "difss/core/log.hpp"

namespace difss {

SegmentOutputSize EvaluationSize::request() const {
  SegmentOutputSize s;
  if (mode_ == "model_input") s.kind = DIFSS_OUTPUT_MODEL_INPUT;
  return s;
}

cv::Mat EvaluationSize::label(const cv::Mat& gt) const {
  if (mode_ == "label") return gt;
  return data::resize_nearest(gt, cv::Size(side_, side_));
}

cv::Mat EvaluationSize::prediction(const cv::Mat& pred) const {
  if (mode_ == "label") return pred;
  const cv::Size side(side_, side_);
  if (mode_ == "model_input" && pred.size() != side && !warned_.exchange(true))
    logger()->warn("eval_size = \"model_input\": the segmenter predicted at {}x{}, not at input_size {}x{}; its "
                   "predictions are nearest-resized to {}x{} (set the segmenter's input size to {} to evaluate "
                   "as the protocol does)",
                   pred.cols, pred.rows, side_, side_, side_, side_, side_);
  return pred.size() == side ? pred : data::resize_nearest(pred, side);
}

}  // namespace difss
