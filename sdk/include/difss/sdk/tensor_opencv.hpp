// Zero-copy views between DLPack tensors and cv::Mat, and cv::Mat -> OwnedTensor.
// Include only in plugins that use OpenCV.
#pragma once

#include <opencv2/core.hpp>

#include <difss/sdk/owned_tensor.hpp>

namespace difss::sdk {

// A cv::Mat header over a borrowed contiguous uint8/float32 DLTensor ([H,W] or [H,W,C]).
// No copy: valid only while the DLTensor is.
inline cv::Mat as_mat(const DLTensor& t) {
  if (!is_contiguous(t) || t.device.device_type != kDLCPU || (t.ndim != 2 && t.ndim != 3))
    throw Error(DIFSS_ERR_INVALID_ARGUMENT, "as_mat: need a contiguous CPU [H,W] or [H,W,C] tensor, got " + shape_string(t));
  int depth;
  if (same_dtype(t.dtype, kU8)) depth = CV_8U;
  else if (same_dtype(t.dtype, kF32)) depth = CV_32F;
  else throw Error(DIFSS_ERR_INVALID_ARGUMENT, "as_mat: only uint8 and float32 are supported");
  int channels = t.ndim == 3 ? int(t.shape[2]) : 1;
  void* data = static_cast<char*>(t.data) + t.byte_offset;
  return cv::Mat(int(t.shape[0]), int(t.shape[1]), CV_MAKETYPE(depth, channels), data);
}

// Copies a cv::Mat (uint8 or float32, 1 or 3 channels) into a new host-ownable tensor
// ([H,W] for one channel, [H,W,C] otherwise). One copy: the Mat may be a temporary.
inline OwnedTensor to_owned(const cv::Mat& m) {
  DLDataType dt;
  if (m.depth() == CV_8U) dt = kU8;
  else if (m.depth() == CV_32F) dt = kF32;
  else throw Error(DIFSS_ERR_INVALID_ARGUMENT, "to_owned: only uint8 and float32 Mats are supported");
  std::vector<int64_t> shape{m.rows, m.cols};
  if (m.channels() > 1) shape.push_back(m.channels());
  OwnedTensor t = OwnedTensor::allocate(dt, shape);
  cv::Mat dst(m.rows, m.cols, m.type(), t.data<void>());
  m.copyTo(dst);
  return t;
}

}  // namespace difss::sdk
