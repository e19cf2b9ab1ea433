// canny: ControlNet sizes (incl. the round-half-to-even tie), binary edges, the mask filter.
#include <catch2/catch.hpp>

#include <difss/condition/controlnet_util.hpp>

#include "canny.hpp"
#include "condition_test_support.hpp"

using namespace difss::test;
using difss::plugins::CannyCondition;

TEST_CASE("canny: edges of a drawn square, sizes as resize_image", "[condition][canny]") {
  cv::Mat image(512, 544, CV_8UC3, cv::Scalar(20, 20, 20));
  cv::rectangle(image, cv::Rect(100, 100, 200, 150), cv::Scalar(230, 200, 180), -1);
  cv::Mat mask = cv::Mat::zeros(image.size(), CV_8U);
  auto plugin = make_plugin<CannyCondition>();
  cv::Mat out = run_condition(*plugin, image, mask);
  CHECK(out.size() == cv::Size(512, 512));  // 544 / 64 = 8.5 rounds to 8 (np.round), not 9
  cv::Mat c0;
  cv::extractChannel(out, c0, 0);
  CHECK(cv::countNonZero(c0 == 0) + cv::countNonZero(c0 == 255) == int(c0.total()));
  CHECK(cv::countNonZero(c0) > 500);

  // mask filter: a mask over the left half keeps only edges within 7 px of it
  mask(cv::Rect(0, 0, 200, 512)) = 1;
  auto filtered = make_plugin<CannyCondition>({{"mask_filter", bool_value(true)}, {"resolution", int_value(0)}});
  cv::Mat f = run_condition(*filtered, image, mask);
  REQUIRE(f.size() == image.size());
  cv::Mat f0;
  cv::extractChannel(f, f0, 0);
  CHECK(cv::countNonZero(f0(cv::Rect(210, 0, 334, 512))) == 0);
  CHECK(cv::countNonZero(f0(cv::Rect(0, 0, 200, 512))) > 100);
}

TEST_CASE("canny rejects low_threshold > high_threshold", "[condition][canny]") {
  CHECK_THROWS_AS(make_plugin<CannyCondition>({{"low_threshold", int_value(200)}, {"high_threshold", int_value(100)}}),
                  difss::sdk::Error);
}

TEST_CASE("canny on a real FSS-1000 image with default parameters", "[condition][canny][shared]") {
  DIFSS_REQUIRE_SHARED("data/fss1000-sample/eiffel_tower");
  auto dir = shared_dir() / "data" / "fss1000-sample" / "eiffel_tower";
  cv::Mat image = read_image(dir / "1.jpg");
  cv::Mat mask = read_image(dir / "1.png", cv::IMREAD_GRAYSCALE);  // FSS-1000 masks hold 0/1 here
  auto plugin = make_plugin<CannyCondition>();
  cv::Mat out = run_condition(*plugin, image, mask, 1, "eiffel_tower", "fss1000");
  CHECK(out.size() == cv::Size(512, 512));  // 224 x 224 -> 512 x 512
  CHECK(out.type() == CV_8UC3);
  cv::Mat c0;
  cv::extractChannel(out, c0, 0);
  CHECK(cv::countNonZero(c0) > 1000);
}
