// Host-side DLPack views of cv::Mat data (borrowed by plugins during a call) and copies of
// plugin outputs back into cv::Mat.
#pragma once

#include <dlpack/dlpack.h>
#include <opencv2/core.hpp>

#include <array>

namespace difss {

// A DLTensor over a continuous CV_8UC1/CV_8UC3/CV_32FC1 Mat ([H,W] or [H,W,C]). Non-continuous
// Mats are cloned first. Valid while this object lives.
class DLView {
 public:
  explicit DLView(const cv::Mat& m);
  DLView(DLView&& o) noexcept;
  DLView(const DLView&) = delete;
  const DLTensor* get() const { return &t_; }

 private:
  void bind();
  cv::Mat mat_;
  std::array<int64_t, 3> shape_{};
  DLTensor t_{};
};

// Copies a contiguous uint8/float32 DLTensor into a Mat: [H,W] -> 1 channel, [H,W,C] -> C
// channels, [N,H,W,C] -> (N*H) x W with C channels.
cv::Mat copy_to_mat(const DLTensor& t);

}  // namespace difss
