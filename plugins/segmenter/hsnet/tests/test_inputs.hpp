// Deterministic test images and masks for the HSNet parity data (tests/data/README.md gives the
// same formulas; the reference numbers were produced from them with the official code).
#pragma once

#include <ATen/ATen.h>
#include <difss/fss/named_tensors.hpp>

#include <cstdint>

namespace difss::test {

using fss::lowbias32;

struct Ellipse {
  int64_t cy, cx, ry, rx;
};

inline Ellipse object_ellipse(int64_t S, int64_t k) {
  return {S * (3 + (k * 5) % 4) / 10, S * (3 + (k * 3) % 5) / 10, S * (15 + (k * 7) % 10) / 100,
          S * (12 + (k * 11) % 13) / 100};
}

inline bool inside(const Ellipse& e, int64_t y, int64_t x) {
  return (y - e.cy) * (y - e.cy) * e.rx * e.rx + (x - e.cx) * (x - e.cx) * e.ry * e.ry <= e.ry * e.ry * e.rx * e.rx;
}

// uint8 [S, S]: 1 inside image k's object ellipse.
inline at::Tensor ellipse_mask(int64_t S, int64_t k) {
  at::Tensor m = at::zeros({S, S}, at::kByte);
  auto a = m.accessor<uint8_t, 2>();
  Ellipse e = object_ellipse(S, k);
  for (int64_t y = 0; y < S; ++y)
    for (int64_t x = 0; x < S; ++x) a[y][x] = inside(e, y, x) ? 1 : 0;
  return m;
}

// uint8 [S, S, 3]: blocky 8x8 noise, and inside the ellipse an "object" colour plus noise.
inline at::Tensor test_image(int64_t S, int64_t k) {
  at::Tensor img = at::zeros({S, S, 3}, at::kByte);
  auto a = img.accessor<uint8_t, 3>();
  Ellipse e = object_ellipse(S, k);
  const int64_t base[3] = {160, 40, 90};
  for (int64_t y = 0; y < S; ++y)
    for (int64_t x = 0; x < S; ++x) {
      const bool in = inside(e, y, x);
      for (int64_t c = 0; c < 3; ++c) {
        uint64_t v = ((uint64_t(y) >> 3) * 131 + (uint64_t(x) >> 3)) * 3 + uint64_t(c + k * 7919 + S);
        uint32_t h = lowbias32(uint32_t(v));
        a[y][x][c] = uint8_t(in ? int64_t(h >> 26) + base[c] : int64_t(h >> 24));
      }
    }
  return img;
}

}  // namespace difss::test
