// seg-palette against FSSpregenerate.py's seg_control run on the same mask (pixel-exact), the
// class -> ADE mapping rules, and a real VOC image through the plugin.
#include <catch2/catch.hpp>

#include <difss/condition/ade_tables.hpp>
#include <difss/condition/controlnet_util.hpp>

#include <nlohmann/json.hpp>

#include <fstream>

#include "condition_test_support.hpp"
#include "seg_palette.hpp"

using difss::plugins::SegPaletteCondition;
using namespace difss::test;
namespace ade = difss::condition::ade;

namespace {
cv::Mat test_mask() { return read_image(condition_data("common", "mask_45x100.png"), cv::IMREAD_UNCHANGED); }

}  // namespace

TEST_CASE("seg-palette equals the official seg_control pixel for pixel", "[condition][seg-palette]") {
  std::ifstream f(condition_data("seg-palette", "seg_cases.json"));
  REQUIRE(f.good());
  auto cases = nlohmann::json::parse(f)["cases"];
  REQUIRE(cases.size() == 4);
  cv::Mat mask = test_mask();
  cv::Mat image = cv::Mat::zeros(mask.size(), CV_8UC3);
  for (const auto& c : cases) {
    INFO(c.dump());
    const bool bugs = c.value("official_bugs", false);
    auto plugin = make_plugin<SegPaletteCondition>(
        {{"resolution", int_value(c["resolution"].get<int>())}, {"official_bugs", bool_value(bugs)}});
    cv::Mat out = run_condition(*plugin, image, mask, c.value("class_id", 0), c.value("class_name", ""),
                                c["class_set"].get<std::string>());
    cv::Mat ref = read_image(condition_data("seg-palette", c["file"].get<std::string>()));
    REQUIRE(out.size() == ref.size());
    CHECK(count_diff(out, ref) == 0);
    CHECK(plugin->ade_index_for(c.value("class_id", 0), c.value("class_name", ""), c["class_set"]) ==
          c["ade_index"].get<int>());
  }
}

TEST_CASE("seg-palette class mapping rules", "[condition][seg-palette]") {
  auto def = make_plugin<SegPaletteCondition>();
  CHECK(def->ade_index_for(15, "person", "pascal") == 12);
  CHECK(def->ade_index_for(1, "airplane", "pascal") == 90);
  CHECK_THROWS_AS(def->ade_index_for(0, "background", "pascal"), difss::sdk::Error);
  CHECK_THROWS_AS(def->ade_index_for(21, "", "pascal"), difss::sdk::Error);
  CHECK(def->ade_index_for(1, "person", "coco") == 12);
  CHECK(def->ade_index_for(21, "elephant", "coco") == 126);  // intended: above 20 works
  CHECK(def->ade_index_for(80, "toothbrush", "coco") == 108);
  CHECK_THROWS_AS(def->ade_index_for(81, "", "coco"), difss::sdk::Error);
  // FSS-1000 goes by name (HSNet and ControlNet4FSS order the ids differently)
  CHECK(def->ade_index_for(999, "taxi", "fss1000") == 83);
  CHECK(def->ade_index_for(1, "fountain", "fss1000") == 104);
  CHECK(def->ade_index_for(7, "eiffel_tower", "fss1000") == ade::hashed_index("eiffel_tower"));
  // other class sets: the ADE class of that name, else the name's hash
  CHECK(def->ade_index_for(3, "Person", "custom") == 12);
  CHECK(def->ade_index_for(3, "duck_toy", "custom") == ade::hashed_index("duck toy"));
  CHECK_THROWS_AS(def->ade_index_for(3, "", "custom"), difss::sdk::Error);

  auto bugs = make_plugin<SegPaletteCondition>({{"official_bugs", bool_value(true)}});
  CHECK(bugs->ade_index_for(17, "fountain", "fss1000") == 83);  // category_mapper[1] for every class
  CHECK(bugs->ade_index_for(20, "cow", "coco") == 126);
  try {
    bugs->ade_index_for(21, "elephant", "coco");
    FAIL("expected an error");
  } catch (const difss::sdk::Error& e) {
    CHECK(e.status() == DIFSS_SKIP);  // the official script skips it; so does the host
    CHECK(std::string(e.what()).find("above 20") != std::string::npos);
  }

  auto zero = make_plugin<SegPaletteCondition>({{"coco_id_base", int_value(0)}});
  CHECK(zero->ade_index_for(0, "person", "coco") == 12);
  CHECK(zero->ade_index_for(79, "toothbrush", "coco") == 108);
  CHECK_THROWS_AS(zero->ade_index_for(80, "", "coco"), difss::sdk::Error);

  static const char* kError = "error";
  auto strict = make_plugin<SegPaletteCondition>({{"unknown_class", string_value(kError, DIFSS_PARAM_ENUM)}});
  CHECK_THROWS_AS(strict->ade_index_for(7, "eiffel_tower", "fss1000"), difss::sdk::Error);
  CHECK_THROWS_AS(strict->ade_index_for(7, "person", "custom"), difss::sdk::Error);

  auto forced = make_plugin<SegPaletteCondition>({{"palette_index", int_value(5)}});
  CHECK(forced->ade_index_for(21, "anything", "whatever") == 5);
}

TEST_CASE("seg-palette paints only the foreground; ignore is background", "[condition][seg-palette]") {
  cv::Mat mask = (cv::Mat_<uint8_t>(2, 3) << 0, 1, 255, 1, 1, 0);
  cv::Mat image = cv::Mat::zeros(2, 3, CV_8UC3);
  auto p = make_plugin<SegPaletteCondition>({{"resolution", int_value(0)}});
  cv::Mat out = run_condition(*p, image, mask, 15, "person", "pascal");
  REQUIRE(out.size() == cv::Size(3, 2));
  CHECK(out.at<cv::Vec3b>(0, 0) == cv::Vec3b(120, 120, 120));
  CHECK(out.at<cv::Vec3b>(0, 1) == cv::Vec3b(150, 5, 61));
  CHECK(out.at<cv::Vec3b>(0, 2) == cv::Vec3b(120, 120, 120));
  CHECK(out.at<cv::Vec3b>(1, 1) == cv::Vec3b(150, 5, 61));
}

TEST_CASE("seg-palette on a real VOC image with default parameters", "[condition][seg-palette][shared]") {
  DIFSS_REQUIRE_SHARED("data/voc-sample");
  auto dir = shared_dir() / "data" / "voc-sample";
  cv::Mat image = read_image(dir / "JPEGImages" / "2011_000003.jpg");
  cv::Mat labels = read_image(dir / "SegmentationClassPNG" / "2011_000003.png");  // VOC colours, RGB
  cv::Mat mask(labels.size(), CV_8U, cv::Scalar(0));
  cv::Mat person, ignore;
  cv::inRange(labels, cv::Scalar(192, 128, 128), cv::Scalar(192, 128, 128), person);
  mask.setTo(1, person);
  cv::inRange(labels, cv::Scalar(224, 224, 192), cv::Scalar(224, 224, 192), ignore);
  mask.setTo(255, ignore);
  REQUIRE(cv::countNonZero(mask == 1) > 1000);

  auto p = make_plugin<SegPaletteCondition>();
  cv::Mat out = run_condition(*p, image, mask, 15, "person", "pascal");
  CHECK(out.size() == cv::Size(768, 512));  // 338 x 500 -> short side 512, multiples of 64
  CHECK(out.type() == CV_8UC3);
  cv::Mat is_person, is_bg;
  cv::inRange(out, cv::Scalar(150, 5, 61), cv::Scalar(150, 5, 61), is_person);
  cv::inRange(out, cv::Scalar(120, 120, 120), cv::Scalar(120, 120, 120), is_bg);
  CHECK(cv::countNonZero(is_person) + cv::countNonZero(is_bg) == out.rows * out.cols);
  cv::Mat expected = difss::condition::foreground01(difss::condition::resize_nearest(mask, out.size()));
  CHECK(cv::countNonZero(is_person) == cv::countNonZero(expected));
}
