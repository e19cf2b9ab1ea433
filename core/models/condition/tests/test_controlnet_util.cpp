// resize_image / HWC3 / the FSS dilation against numbers produced by the official Python
// (ControlNet4FSS annotator/util.py and FSSpregenerate.py; see tests/data/README.md).
#include <catch2/catch.hpp>

#include <difss/condition/controlnet_util.hpp>
#include <difss/sdk/error.hpp>

#include <nlohmann/json.hpp>

#include <fstream>

#include "condition_test_support.hpp"

using namespace difss::condition;
using difss::test::condition_data;
using difss::test::count_diff;
using difss::test::read_image;

TEST_CASE("resize_image sizes match annotator/util.py, ties round half to even", "[condition][common]") {
  std::ifstream f(condition_data("common", "resize_image_cases.json"));
  REQUIRE(f.good());
  auto j = nlohmann::json::parse(f);
  REQUIRE(j["sizes"].size() >= 10);
  for (const auto& c : j["sizes"]) {
    cv::Size out = resize_image_size(cv::Size(c["w"], c["h"]), c["resolution"]);
    INFO(c.dump());
    CHECK(out.height == c["out_h"].get<int>());
    CHECK(out.width == c["out_w"].get<int>());
  }
  // the ties, spelled out: 544 / 64 = 8.5 -> 8; 608 / 64 = 9.5 -> 10; 150 * 0.64 / 64 = 1.5 -> 2
  CHECK(resize_image_size({544, 512}, 512) == cv::Size(512, 512));
  CHECK(resize_image_size({608, 512}, 512) == cv::Size(640, 512));
  CHECK(resize_image_size({100, 150}, 64) == cv::Size(64, 128));
  CHECK(resize_image_size({100, 150}, 0) == cv::Size(100, 150));
}

TEST_CASE("resize_image pixels equal cv2 (Lanczos4 up, area down)", "[condition][common]") {
  cv::Mat small = read_image(condition_data("common", "img_40x60.png"));
  cv::Mat up = resize_image(small, 64);
  cv::Mat up_ref = read_image(condition_data("common", "img_40x60_resized64.png"));
  REQUIRE(up.size() == cv::Size(128, 64));
  CHECK(count_diff(up, up_ref) == 0);

  cv::Mat big = read_image(condition_data("common", "img_150x100.png"));
  cv::Mat down = resize_image(big, 64);
  cv::Mat down_ref = read_image(condition_data("common", "img_150x100_resized64.png"));
  REQUIRE(down.size() == cv::Size(64, 128));
  CHECK(count_diff(down, down_ref) == 0);
}

TEST_CASE("resize_image rejects sizes it cannot make", "[condition][common]") {
  CHECK_THROWS_AS(resize_image_size({100, 100}, 16), difss::sdk::Error);   // rounds to 0
  CHECK_THROWS_AS(resize_image_size({100000, 1}, 512), difss::sdk::Error); // 51 200 000 wide
  CHECK_THROWS_AS(resize_image(cv::Mat(), 512), difss::sdk::Error);
}

TEST_CASE("HWC3 matches annotator/util.py for 1, 3 and 4 channels", "[condition][common]") {
  cv::Mat rgba = read_image(condition_data("common", "rgba_7x9.png"), cv::IMREAD_UNCHANGED);
  REQUIRE(rgba.type() == CV_8UC4);
  cv::cvtColor(rgba, rgba, cv::COLOR_BGRA2RGBA);
  cv::Mat ref = read_image(condition_data("common", "rgba_7x9_hwc3.png"));
  CHECK(count_diff(hwc3(rgba), ref) == 0);

  cv::Mat gray = (cv::Mat_<uint8_t>(2, 2) << 0, 7, 200, 255);
  cv::Mat g3 = hwc3(gray);
  REQUIRE(g3.type() == CV_8UC3);
  CHECK(g3.at<cv::Vec3b>(1, 0) == cv::Vec3b(200, 200, 200));
  cv::Mat rgb(3, 3, CV_8UC3, cv::Scalar(1, 2, 3));
  CHECK(hwc3(rgb).data == rgb.data);  // as is, no copy
  CHECK_THROWS_AS(hwc3(cv::Mat(2, 2, CV_8UC2)), difss::sdk::Error);
}

TEST_CASE("the FSS dilation is ONE 14x14 elliptical dilation (cv2.dilate(m, k, 10))", "[condition][common]") {
  // A single dot shows the kernel: 14x14 ellipse anchored at (7, 7).
  cv::Mat dot = cv::Mat::zeros(31, 33, CV_8U);
  dot.at<uint8_t>(15, 16) = 1;
  cv::Mat d = dilate_fss(dot);
  cv::Mat ref = read_image(condition_data("common", "dot_dilated.png"), cv::IMREAD_GRAYSCALE) / 255;
  CHECK(count_diff(d, ref) == 0);
  cv::Rect box = cv::boundingRect(d);
  CHECK(box == cv::Rect(16 - 6, 15 - 6, 14, 14));  // rows/cols [centre-6, centre+7]: anchor (7, 7) reflected
  CHECK(cv::countNonZero(d) == cv::countNonZero(ref));

  // The mask of a real case, resized (nearest) to the detect size first, as hed_control does.
  cv::Mat mask = read_image(condition_data("common", "mask_45x100.png"), cv::IMREAD_UNCHANGED);
  REQUIRE(mask.type() == CV_8UC1);
  for (int r : {64, 512}) {
    cv::Size size = resize_image_size(mask.size(), r);
    cv::Mat dil = dilate_fss(foreground01(resize_nearest(mask, size)));
    cv::Mat ref_r = read_image(condition_data("common", "mask_45x100_dilated" + std::to_string(r) + ".png"),
                               cv::IMREAD_GRAYSCALE) / 255;
    INFO("resolution " << r);
    CHECK(count_diff(dil, ref_r) == 0);
  }
}

TEST_CASE("mask_filter_fss keeps the map inside the dilated foreground only", "[condition][common]") {
  cv::Mat map(20, 30, CV_8UC1, cv::Scalar(200));
  cv::Mat mask = cv::Mat::zeros(10, 15, CV_8U);  // half size: resized nearest to 20x30
  mask.at<uint8_t>(5, 7) = 1;
  mask.at<uint8_t>(0, 0) = 255;  // ignore is not foreground
  cv::Mat out = mask_filter_fss(map, mask);
  cv::Mat fg = dilate_fss(foreground01(resize_nearest(mask, map.size())));
  CHECK(cv::countNonZero(out) == cv::countNonZero(fg));
  CHECK(out.at<uint8_t>(10, 14) == 200);
  CHECK(out.at<uint8_t>(0, 0) == 0);
  CHECK(out.at<uint8_t>(19, 29) == 0);
}
