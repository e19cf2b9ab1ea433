// DifFSS aux-support naming, writing, DifFSS-BAM-style reading.
#include <catch2/catch.hpp>

#include "data_test_util.hpp"
#include "difss/data/aux_store.hpp"
#include "difss/data/dataset.hpp"
#include "shared_data.hpp"

using namespace difss::data;
using difss::test::TempDir;

TEST_CASE("aux names follow FSSpregenerate.py / DifFSS-BAM", "[data][aux]") {
  AuxSupportStore store("/aux");
  // PASCAL: <image id>_<VOC class 1..20>_<k>.jpg
  CHECK(store.image_path("2011_000003", 15, 0) == "/aux/2011_000003_15_0.jpg");
  // COCO: <split folder>/<stem>_<class 1..80>_<k>.jpg
  CHECK(store.image_path("val2014/COCO_val2014_000000000042", 61, 3) ==
        "/aux/val2014/COCO_val2014_000000000042_61_3.jpg");
  // FSS-1000: <class>/<N>_1_<k>.jpg (binary masks: the class value is 1)
  CHECK(store.image_path("eiffel_tower/1", 1, 0) == "/aux/eiffel_tower/1_1_0.jpg");
  CHECK(store.control_path("2011_000003", 15) == "/aux/2011_000003_15_control.jpg");
  CHECK_THROWS(store.image_path("../escape", 1, 0));
  CHECK_THROWS(store.image_path("/abs/name", 1, 0));
  CHECK_THROWS(store.image_path("a/../../b", 1, 0));
}

TEST_CASE("aux store: write atomically, read resized with the support's mask", "[data][aux][shared]") {
  DIFSS_REQUIRE_SHARED("data/fss1000-sample");
  DatasetConfig cfg;
  cfg.kind = "fss1000";
  cfg.root = difss::test::shared_dir() / "data/fss1000-sample";
  cfg.split = "test";
  const auto ds = open_dataset(cfg);
  TempDir tmp;
  AuxSupportStore store(tmp / "aux");
  // k = 0: a 100x80 JPEG (resized to 224x224 on load); k = 1: a PNG at the support's size.
  cv::Mat small(80, 100, CV_8UC3, cv::Scalar(200, 40, 10));
  const auto p0 = store.write(*ds, 0, 1, 0, small);
  CHECK(p0 == tmp / "aux/eiffel_tower/1_1_0.jpg");
  cv::Mat same(224, 224, CV_8UC3, cv::Scalar(5, 6, 7));
  store.write("eiffel_tower/1", 1, 1, same, ".png");
  CHECK(store.count(*ds, 0, 1, 10) == 2);

  const auto aux = store.load(*ds, 0, 1, 3);
  REQUIRE(aux.size() == 3);
  const cv::Mat mask = ds->load_mask(0);
  for (const auto& a : aux) {
    CHECK(a.image.size() == cv::Size(224, 224));
    CHECK(a.image.type() == CV_8UC3);
    CHECK(cv::countNonZero(a.mask != mask) == 0);
  }
  CHECK_FALSE(aux[0].is_fallback);
  CHECK(aux[0].path == p0);
  // RGB survives the BGR file round trip (JPEG: within a few levels on a flat colour).
  const cv::Vec3b c = aux[0].image.at<cv::Vec3b>(112, 112);
  CHECK(std::abs(c[0] - 200) <= 3);
  CHECK(std::abs(c[2] - 10) <= 3);
  CHECK(aux[1].path.extension() == ".png");
  CHECK(aux[1].image.at<cv::Vec3b>(0, 0) == cv::Vec3b(5, 6, 7));
  // k = 2 is missing: DifFSS-BAM falls back to the real support.
  CHECK(aux[2].is_fallback);
  CHECK(cv::norm(aux[2].image, ds->load_image(0), cv::NORM_INF) == 0);
  CHECK_THROWS_WITH(store.load(*ds, 0, 1, 3, MissingAux::error), Catch::Contains("1_1_2.jpg"));
  for (const auto& e : std::filesystem::recursive_directory_iterator(tmp.path()))
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
  CHECK_THROWS(store.write("x", 1, 0, cv::Mat(4, 4, CV_8UC1)));
}
