// HSNet mIoU / FB-IoU on hand-computed cases.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "difss/data/metrics.hpp"

using namespace difss::data;

namespace {
cv::Mat m8(int rows, int cols, std::initializer_list<int> v) {
  cv::Mat m(rows, cols, CV_8UC1);
  auto it = v.begin();
  for (int k = 0; k < rows * cols; ++k) m.ptr<std::uint8_t>()[k] = static_cast<std::uint8_t>(*it++);
  return m;
}
}  // namespace

TEST_CASE("count_iou: one episode by hand", "[data][metrics]") {
  // pred        gt            pixel-by-pixel (gt 255 at (row 1, col 0) is ignored):
  // 1 1 0       1   0 0       (0,0) p1 g1   (0,1) p1 g0   (0,2) p0 g0
  // 0 1 0       255 1 1       (1,1) p1 g1   (1,2) p0 g1
  // area_pred fg 3, bg 2; area_gt fg 3, bg 2; inter fg 2 [(0,0),(1,1)], bg 1 [(0,2)]
  // union fg 3+3-2 = 4, bg 2+2-1 = 3  ->  IoU fg 1/2, bg 1/3
  const cv::Mat pred = m8(2, 3, {1, 1, 0, 0, 1, 0});
  const cv::Mat gt = m8(2, 3, {1, 0, 0, 255, 1, 1});
  const IoUCounts c = count_iou(pred, gt);
  CHECK(c.inter[1] == 2);
  CHECK(c.uni[1] == 4);
  CHECK(c.inter[0] == 1);
  CHECK(c.uni[0] == 3);
  // A prediction of 255 (or any non-zero) counts as foreground; gt 255 is ignored whatever pred says.
  const IoUCounts c2 = count_iou(m8(1, 3, {255, 0, 1}), m8(1, 3, {1, 255, 255}));
  CHECK(c2.inter[1] == 1);
  CHECK(c2.uni[1] == 1);
  CHECK(c2.uni[0] == 0);
}

TEST_CASE("IoUAccumulator: HSNet's mIoU and FB-IoU by hand", "[data][metrics]") {
  IoUAccumulator acc({1, 2, 3});
  // class 1: the episode above (fg 2/4, bg 1/3)
  acc.add(1, m8(2, 3, {1, 1, 0, 0, 1, 0}), m8(2, 3, {1, 0, 0, 255, 1, 1}));
  // class 2: all-background 2x2, predicted right: bg 4/4, fg 0/0
  acc.add(2, m8(2, 2, {0, 0, 0, 0}), m8(2, 2, {0, 0, 0, 0}));
  // class 3: no episodes.
  // mIoU = (1/2 + 0/max(0,1) + 0) / 3 = 1/6 (HSNet averages over all the fold's classes)
  CHECK(acc.miou() == Approx(1.0 / 6.0).epsilon(1e-12));
  // FB-IoU: bg (1+4)/(3+4) = 5/7, fg 2/4 -> (5/7 + 1/2) / 2 = 17/28
  CHECK(acc.fbiou() == Approx(17.0 / 28.0).epsilon(1e-12));

  // Counts are summed over episodes, not IoUs averaged: a perfect 1-pixel episode for class 1
  // gives fg 3/5 = 0.6 (the mean of per-episode IoUs would be 0.75).
  acc.add(1, m8(1, 1, {1}), m8(1, 1, {1}));
  const auto pc = acc.per_class();
  REQUIRE(pc.size() == 3);
  CHECK(pc[0].class_id == 1);
  CHECK(pc[0].episodes == 2);
  CHECK(pc[0].iou_fg == Approx(0.6));
  CHECK(pc[2].episodes == 0);
  CHECK(acc.miou() == Approx((0.6 + 0 + 0) / 3.0));
  CHECK(acc.episodes() == 3);
  // An explicit class list.
  CHECK(acc.miou({1}) == Approx(0.6));
}

TEST_CASE("IoUAccumulator: merge is exact, JSON round-trips", "[data][metrics]") {
  const cv::Mat p1 = m8(2, 3, {1, 1, 0, 0, 1, 0}), g1 = m8(2, 3, {1, 0, 0, 255, 1, 1});
  const cv::Mat p2 = m8(1, 4, {0, 1, 1, 0}), g2 = m8(1, 4, {0, 1, 0, 0});
  IoUAccumulator whole({1, 2}), a({1, 2}), b({1, 2});
  whole.add(1, p1, g1);
  whole.add(2, p2, g2);
  whole.add(1, p2, g2);
  a.add(1, p1, g1);
  b.add(2, p2, g2);
  b.add(1, p2, g2);
  a.merge(b);
  CHECK(a.to_json() == whole.to_json());
  const auto back = IoUAccumulator::from_json(nlohmann::json::parse(whole.to_json().dump()));
  CHECK(back.to_json() == whole.to_json());
  CHECK(back.miou() == whole.miou());
  IoUAccumulator other({1, 3});
  CHECK_THROWS(a.merge(other));
}

TEST_CASE("count_iou rejects mismatched sizes and bad labels", "[data][metrics][errors]") {
  CHECK_THROWS_WITH(count_iou(cv::Mat::zeros(4, 5, CV_8UC1), cv::Mat::zeros(5, 4, CV_8UC1)),
                    Catch::Contains("5x4") && Catch::Contains("4x5"));
  CHECK_THROWS_WITH(count_iou(m8(1, 2, {0, 1}), m8(1, 2, {0, 7})), Catch::Contains("7"));
  CHECK_THROWS(count_iou(cv::Mat::zeros(2, 2, CV_32F), cv::Mat::zeros(2, 2, CV_8UC1)));
  nlohmann::json bad = {{"format", "difss-iou"}, {"version", 1}, {"classes", {1}},
                        {"per_class", {{{"class_id", 1}, {"episodes", 1}, {"inter_bg", 5}, {"union_bg", 4},
                                        {"inter_fg", 0}, {"union_fg", 0}}}}};
  CHECK_THROWS_WITH(IoUAccumulator::from_json(bad), Catch::Contains("intersection larger"));
}
