// Internal: COCO's run-length masks (the format of pycocotools' maskApi), written from its
// documented behaviour. Runs follow the column-major order of an h x w mask (index x * h + y),
// alternate 0 and 1 and start with a run of 0s (possibly empty).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace difss::data::detail {

using RleCounts = std::vector<std::uint32_t>;

// The compressed form ("counts" as a string): per count, 5-bit groups (least significant first)
// as characters 48 + (bits | 0x20 when another group follows); the last group's 0x10 bit is the
// sign; from the fourth count on, the value is stored as the difference to the count two before.
RleCounts rle_from_string(const std::string& text);
std::string rle_to_string(const RleCounts& counts);

// A polygon (x0 y0 x1 y1 ... in pixel coordinates, a pixel's centre at +0.5) rasterised as
// pycocotools' frPoly does: vertices scaled by 5 and rounded, edges walked densely, and a
// column's run toggled where the boundary crosses the column's centre. A pixel whose centre is
// on a rising edge is outside, which makes an axis-aligned box (x0, y0)-(x1, y1) with integer
// corners exactly (x1 - x0) x (y1 - y0) pixels.
RleCounts rle_from_polygon(const std::vector<double>& xy, int height, int width);

// Sets `value` where the runs are 1, in a CV_8UC1 mask of height x width. Throws when the counts
// do not add up to height * width.
void paint_rle(cv::Mat& mask, const RleCounts& counts, std::uint8_t value);

}  // namespace difss::data::detail
