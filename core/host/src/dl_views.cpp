#include "difss/core/dl_views.hpp"

#include <difss/sdk/owned_tensor.hpp>

#include <stdexcept>

namespace difss {

DLView::DLView(const cv::Mat& m) : mat_(m.isContinuous() ? m : m.clone()) { bind(); }

DLView::DLView(DLView&& o) noexcept : mat_(std::move(o.mat_)), shape_(o.shape_) { bind(); }

void DLView::bind() {
  int depth = mat_.depth();
  if (depth != CV_8U && depth != CV_32F)
    throw std::invalid_argument("DLView: only 8-bit and float32 images can cross the plugin ABI");
  t_.data = mat_.data;
  t_.device = {kDLCPU, 0};
  t_.dtype = depth == CV_8U ? sdk::kU8 : sdk::kF32;
  shape_ = {mat_.rows, mat_.cols, mat_.channels()};
  t_.ndim = mat_.channels() == 1 ? 2 : 3;
  t_.shape = shape_.data();
  t_.strides = nullptr;
  t_.byte_offset = 0;
}

cv::Mat copy_to_mat(const DLTensor& t) {
  int depth = sdk::same_dtype(t.dtype, sdk::kU8) ? CV_8U : CV_32F;
  int rows, cols, ch;
  if (t.ndim == 2) rows = int(t.shape[0]), cols = int(t.shape[1]), ch = 1;
  else if (t.ndim == 3) rows = int(t.shape[0]), cols = int(t.shape[1]), ch = int(t.shape[2]);
  else if (t.ndim == 4) rows = int(t.shape[0] * t.shape[1]), cols = int(t.shape[2]), ch = int(t.shape[3]);
  else throw std::invalid_argument("copy_to_mat: unsupported rank");
  const void* data = static_cast<const char*>(t.data) + t.byte_offset;
  return cv::Mat(rows, cols, CV_MAKETYPE(depth, ch), const_cast<void*>(data)).clone();
}

}  // namespace difss
