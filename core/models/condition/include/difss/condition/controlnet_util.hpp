// ControlNet's annotator utilities (annotator/util.py) and the mask handling of ControlNet4FSS's
// FSSpregenerate.py, shared by the condition plugins. OpenCV only, no LibTorch.
//
// Images are RGB uint8 cv::Mat (CV_8UC3); masks follow the difss "mask" port (0 background,
// 1 foreground, 255 ignore). Every function raises difss::sdk::Error(INVALID_ARGUMENT) with a
// message naming what was expected for inputs it cannot handle.
#pragma once

#include <opencv2/core.hpp>

namespace difss::condition {

// Largest side / pixel count a resized control map may have (an extreme aspect ratio would
// otherwise ask for absurd allocations).
inline constexpr int kMaxControlSide = 16384;
inline constexpr long long kMaxControlPixels = 64ll << 20;

// Output size of resize_image(): k = resolution / min(H, W); both sides scaled by k and rounded
// to multiples of 64 with numpy's np.round (round half to EVEN: 8.5 -> 8). resolution <= 0
// keeps the size. Throws when a side would be 0 or the result too large.
cv::Size resize_image_size(cv::Size in, int resolution);

// annotator/util.py resize_image: INTER_LANCZOS4 when enlarging (k > 1), INTER_AREA otherwise.
// resolution <= 0 returns the input unchanged (no copy).
cv::Mat resize_image(const cv::Mat& img, int resolution);

// Nearest-neighbour resize (cv2.INTER_NEAREST), as FSSpregenerate.py resizes masks.
cv::Mat resize_nearest(const cv::Mat& m, cv::Size size);

// annotator/util.py HWC3 for uint8 images: 1 channel -> replicated to 3; 3 -> as is (no copy);
// 4 -> colour * alpha + 255 * (1 - alpha) in float32, clipped and truncated to uint8.
cv::Mat hwc3(const cv::Mat& x);

// (mask == 1) as uint8 0/1: the foreground of a difss mask (255 "ignore" is not foreground,
// as `mask == fg_cls` in FSSpregenerate.py).
cv::Mat foreground01(const cv::Mat& mask);

// FSSpregenerate.py's `cv2.dilate(fgmask, kernel, 10)` with kernel = 14x14 MORPH_ELLIPSE. The 10
// lands in the `dst` argument, so this is ONE dilation (anchor at the kernel centre (7, 7)).
cv::Mat dilate_fss(const cv::Mat& mask01);

// The mask filter of FSSpregenerate.py's hed_control: the support mask resized (nearest) to the
// size of `map`, its foreground dilated by dilate_fss, and `map` (uint8, 1 or 3 channels)
// multiplied by it (kept where the dilated mask is 1, else 0).
cv::Mat mask_filter_fss(const cv::Mat& map, const cv::Mat& mask);

}  // namespace difss::condition
