// mask-scribble: hand-computed outline, determinism, strokes near the mask, and the plugin on a
// real mask.
#include <catch2/catch.hpp>

#include <difss/condition/controlnet_util.hpp>

#include "condition_test_support.hpp"
#include "mask_scribble.hpp"

using namespace difss::test;
using difss::plugins::draw_mask_scribble;
using difss::plugins::MaskScribbleCondition;
using difss::plugins::MaskScribbleOptions;

namespace {
cv::Mat rect_mask() {
  cv::Mat m = cv::Mat::zeros(50, 60, CV_8U);
  m(cv::Rect(10, 10, 30, 20)) = 1;
  return m;
}
}  // namespace

TEST_CASE("without jitter the outline of a rectangle is exactly its border pixels", "[condition][mask-scribble]") {
  MaskScribbleOptions o;
  o.jitter = 0;
  o.thickness = 1;
  o.inner_strokes = 0;
  cv::Mat fg = rect_mask();
  cv::Mat s = draw_mask_scribble(fg, o);
  cv::Mat eroded;
  cv::erode(fg, eroded, cv::Mat::ones(3, 3, CV_8U));
  cv::Mat border = (fg - eroded) * 255;
  CHECK(count_diff(s, border) == 0);
  CHECK(cv::countNonZero(s) == 2 * (30 + 20) - 4);
}

TEST_CASE("mask-scribble is deterministic and seeded", "[condition][mask-scribble]") {
  cv::Mat fg = cv::Mat::zeros(200, 240, CV_8U);
  cv::ellipse(fg, cv::Point(120, 100), cv::Size(90, 60), 15, 0, 360, cv::Scalar(1), -1);
  cv::circle(fg, cv::Point(110, 95), 15, cv::Scalar(0), -1);  // a hole
  MaskScribbleOptions o;
  o.jitter = 3;
  cv::Mat a = draw_mask_scribble(fg, o), b = draw_mask_scribble(fg, o);
  CHECK(count_diff(a, b) == 0);
  o.seed = 1;
  cv::Mat c = draw_mask_scribble(fg, o);
  CHECK(count_diff(a, c) > 0);
  // only 0 / 255
  CHECK(cv::countNonZero(a == 0) + cv::countNonZero(a == 255) == int(a.total()));
  // strokes stay within jitter + thickness of the mask, and the hole's outline is drawn
  cv::Mat near;
  int r = int(std::ceil(o.jitter)) + o.thickness + 1;
  cv::dilate(fg, near, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * r + 1, 2 * r + 1)));
  CHECK(cv::countNonZero(a & (near == 0)) == 0);
  CHECK(cv::countNonZero(a(cv::Rect(110 - 20, 95 - 20, 40, 40))) > 20);
  // inner echo outlines: the deepest point is ~50 px in; strokes at ~1/3 and ~2/3 of it
  o.inner_strokes = 0;
  cv::Mat outline_only = draw_mask_scribble(fg, o);
  CHECK(cv::countNonZero(c) > cv::countNonZero(outline_only) + 200);
}

TEST_CASE("mask-scribble of an empty mask is black", "[condition][mask-scribble]") {
  cv::Mat s = draw_mask_scribble(cv::Mat::zeros(64, 64, CV_8U), MaskScribbleOptions{});
  CHECK(cv::countNonZero(s) == 0);
  CHECK_THROWS_AS(draw_mask_scribble(cv::Mat(), MaskScribbleOptions{}), difss::sdk::Error);
}

TEST_CASE("mask-scribble plugin on a real mask with default parameters", "[condition][mask-scribble][shared]") {
  DIFSS_REQUIRE_SHARED("data/persam");
  cv::Mat image = read_image(shared_dir() / "data" / "persam" / "duck_toy_00.jpg");
  cv::Mat label = read_image(shared_dir() / "data" / "persam" / "duck_toy_00.png", cv::IMREAD_GRAYSCALE);
  cv::Mat mask = (label > 0) / 255;
  auto plugin = make_plugin<MaskScribbleCondition>();
  cv::Mat out = run_condition(*plugin, image, mask, 1, "duck_toy", "custom");
  cv::Size expected = difss::condition::resize_image_size(image.size(), 512);
  CHECK(out.size() == expected);
  CHECK(std::min(out.rows, out.cols) == 512);
  CHECK(out.type() == CV_8UC3);
  cv::Mat c0;
  cv::extractChannel(out, c0, 0);
  CHECK(cv::countNonZero(c0) > 500);
  CHECK(cv::countNonZero(c0 == 0) + cv::countNonZero(c0 == 255) == int(c0.total()));
  cv::Mat again = run_condition(*plugin, image, mask, 1, "duck_toy", "custom");
  CHECK(count_diff(out, again) == 0);
}
