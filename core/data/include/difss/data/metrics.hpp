// HSNet's evaluation (juhongm999/hsnet common/evaluation.py Evaluator + common/logger.py
// AverageMeter), with integer pixel counts so that partial results merge exactly.
//
// Per episode: pixels where the ground truth is 255 are ignored; for background (0) and
// foreground (1): intersection = pixels where prediction == ground truth == that value,
// union = area_pred + area_gt - intersection. Per class the counts are summed over episodes.
//   mIoU   = mean over the evaluation classes of  inter_fg / max(union_fg, 1)
//            (a class without episodes counts as IoU 0, as in HSNet)
//   FB-IoU = mean of  sum_c inter_bg / sum_c union_bg  and  sum_c inter_fg / sum_c union_fg
// Both are fractions in [0, 1] (HSNet prints them x100).
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <opencv2/core.hpp>

namespace difss::data {

struct IoUCounts {
  std::uint64_t inter[2] = {0, 0};  // [0] background, [1] foreground
  std::uint64_t uni[2] = {0, 0};
  IoUCounts& operator+=(const IoUCounts& o);
  bool operator==(const IoUCounts& o) const;
};

// Counts of one prediction (CV_8UC1, nonzero = foreground) against its ground truth (CV_8UC1,
// 0/1/255). Sizes must match (see resize_nearest to bring a prediction to the label size).
IoUCounts count_iou(const cv::Mat& pred, const cv::Mat& gt);

class IoUAccumulator {
 public:
  IoUAccumulator() = default;
  // `classes`: the fold's evaluation classes, over which miou()/fbiou() average.
  explicit IoUAccumulator(std::vector<int> classes);

  const std::vector<int>& classes() const { return classes_; }
  // Adds one episode; returns its counts.
  IoUCounts add(int class_id, const cv::Mat& pred, const cv::Mat& gt);
  void add_counts(int class_id, const IoUCounts& counts, std::uint64_t episodes = 1);
  // Exact: integer sums. Class lists must agree (or one be empty).
  void merge(const IoUAccumulator& other);

  double miou() const { return miou(classes_); }
  double miou(const std::vector<int>& classes) const;
  double fbiou() const { return fbiou(classes_); }
  double fbiou(const std::vector<int>& classes) const;

  struct ClassResult {
    int class_id = 0;
    IoUCounts counts;
    std::uint64_t episodes = 0;
    double iou_bg = 0, iou_fg = 0;
  };
  // Every class in classes() plus any other class that received episodes, by id.
  std::vector<ClassResult> per_class() const;
  std::uint64_t episodes() const;

  // {"format":"difss-iou","version":1,"classes":[..],"per_class":[{"class_id","episodes",
  //  "inter_bg","union_bg","inter_fg","union_fg","iou_bg","iou_fg"}],"miou","fbiou"}
  nlohmann::json to_json() const;
  static IoUAccumulator from_json(const nlohmann::json& doc);

 private:
  struct Entry {
    IoUCounts counts;
    std::uint64_t episodes = 0;
  };
  std::vector<int> classes_;
  std::map<int, Entry> entries_;
};

}  // namespace difss::data
