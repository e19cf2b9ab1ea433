// cv::Mat <-> at::Tensor for the annotators (CPU, contiguous, copies where needed).
#pragma once

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

namespace difss::condition {

// uint8 [H, W, 3] image -> float32 [1, 3, H, W] with the channels in the given order
// (bgr = reverse them), values 0..255 (not scaled).
at::Tensor image_to_nchw_float(const cv::Mat& rgb, bool bgr = false);

// A float32 tensor with H x W elements (e.g. [1, 1, H, W]) -> CV_32F Mat (a copy).
cv::Mat plane_to_mat(const at::Tensor& t);

}  // namespace difss::condition
