// COCO run-length masks: compressed strings, polygons, painting; see coco_rle.hpp.
#include "coco_rle.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace difss::data::detail {

RleCounts rle_from_string(const std::string& text) {
  RleCounts counts;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::int64_t value = 0;
    int shift = 0;
    for (bool more = true; more; shift += 5) {
      if (pos >= text.size()) throw std::runtime_error("compressed RLE ends inside a count");
      const int c = static_cast<unsigned char>(text[pos++]) - 48;
      if (c < 0 || c > 63) throw std::runtime_error("compressed RLE holds a character outside '0'..'o'");
      if (shift > 55) throw std::runtime_error("compressed RLE count too long");
      value |= static_cast<std::int64_t>(c & 0x1f) << shift;
      more = (c & 0x20) != 0;
      if (!more && (c & 0x10)) value |= static_cast<std::int64_t>(~0ULL << (shift + 5));  // negative
    }
    if (counts.size() > 2) value += counts[counts.size() - 2];
    if (value < 0 || value > 0xFFFFFFFFLL) throw std::runtime_error("compressed RLE decodes to a negative count");
    counts.push_back(static_cast<std::uint32_t>(value));
  }
  return counts;
}

std::string rle_to_string(const RleCounts& counts) {
  std::string out;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    std::int64_t x = counts[i];
    if (i > 2) x -= counts[i - 2];
    for (bool more = true; more;) {
      int c = static_cast<int>(x & 0x1f);
      x >>= 5;  // arithmetic shift: negative values end at -1
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      out.push_back(static_cast<char>(c + 48));
    }
  }
  return out;
}

RleCounts rle_from_polygon(const std::vector<double>& xy, int height, int width) {
  if (xy.size() < 4 || xy.size() % 2) throw std::invalid_argument("polygon needs an even number (>= 4) of coordinates");
  constexpr double kScale = 5;
  const std::size_t k = xy.size() / 2;
  std::vector<int> vx(k + 1), vy(k + 1);
  for (std::size_t j = 0; j < k; ++j) {  // C's (int)(v + .5): truncation, as frPoly
    vx[j] = static_cast<int>(kScale * xy[2 * j] + .5);
    vy[j] = static_cast<int>(kScale * xy[2 * j + 1] + .5);
  }
  vx[k] = vx[0];
  vy[k] = vy[0];
  // 1. Dense boundary points on the 5x grid, each edge walked along its longer axis, in the
  //    edge's own direction; positions are computed from the lower endpoint of that axis.
  std::vector<int> u, v;
  for (std::size_t j = 0; j < k; ++j) {
    int xs = vx[j], xe = vx[j + 1], ys = vy[j], ye = vy[j + 1];
    const int dx = std::abs(xe - xs), dy = std::abs(ys - ye);
    const bool along_x = dx >= dy;
    const bool flip = along_x ? xs > xe : ys > ye;
    if (flip) {
      std::swap(xs, xe);
      std::swap(ys, ye);
    }
    const int steps = along_x ? dx : dy;
    // A repeated vertex (dx = dy = 0) is a single point; its slope does not matter.
    const double slope = steps == 0 ? 0.0 : (along_x ? double(ye - ys) / dx : double(xe - xs) / dy);
    for (int d = 0; d <= steps; ++d) {
      const int t = flip ? steps - d : d;
      if (along_x) {
        u.push_back(t + xs);
        v.push_back(static_cast<int>(ys + slope * t + .5));
      } else {
        v.push_back(t + ys);
        u.push_back(static_cast<int>(xs + slope * t + .5));
      }
    }
  }
  // 2. Where the boundary moves to another column, and that column is a pixel centre of the
  //    original grid, it toggles the column's run at the first row below the boundary.
  std::vector<std::uint32_t> toggles;
  for (std::size_t j = 1; j < u.size(); ++j) {
    if (u[j] == u[j - 1]) continue;
    double xd = u[j] < u[j - 1] ? u[j] : u[j] - 1;
    xd = (xd + .5) / kScale - .5;
    if (std::floor(xd) != xd || xd < 0 || xd > width - 1) continue;
    double yd = std::min(v[j], v[j - 1]);
    yd = (yd + .5) / kScale - .5;
    yd = std::ceil(std::clamp(yd, 0.0, double(height)));
    toggles.push_back(static_cast<std::uint32_t>(static_cast<int>(xd) * height + static_cast<int>(yd)));
  }
  // 3. Toggle positions -> run lengths; a zero-length run merges its neighbours.
  toggles.push_back(static_cast<std::uint32_t>(height) * static_cast<std::uint32_t>(width));
  std::sort(toggles.begin(), toggles.end());
  RleCounts runs;
  std::uint32_t prev = 0;
  for (std::size_t j = 0; j < toggles.size(); ++j) {
    const std::uint32_t len = toggles[j] - prev;
    prev = toggles[j];
    if (j == 0 || len > 0) {
      runs.push_back(len);
    } else if (++j < toggles.size()) {  // an empty run: the next one continues the previous
      runs.back() += toggles[j] - prev;
      prev = toggles[j];
    }
  }
  return runs;
}

void paint_rle(cv::Mat& mask, const RleCounts& counts, std::uint8_t value) {
  const std::uint64_t h = static_cast<std::uint64_t>(mask.rows), w = static_cast<std::uint64_t>(mask.cols);
  std::uint64_t total = 0;
  for (auto c : counts) total += c;
  if (total != h * w)
    throw std::runtime_error("RLE counts add up to " + std::to_string(total) + ", not height x width = " +
                             std::to_string(h) + " x " + std::to_string(w));
  std::uint64_t at = 0;
  for (std::size_t r = 0; r < counts.size(); ++r) {
    if (r % 2 == 1)
      for (std::uint64_t i = at; i < at + counts[r]; ++i)
        mask.at<std::uint8_t>(static_cast<int>(i % h), static_cast<int>(i / h)) = value;  // column-major
    at += counts[r];
  }
}

}  // namespace difss::data::detail
