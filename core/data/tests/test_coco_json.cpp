// coco-json: polygons, RLE (counts lists and compressed strings), crowd handling, class ids.
// Expected masks are derived by hand (see the comments), not from pycocotools (not installed).
#include <catch2/catch.hpp>

#include "../src/coco_rle.hpp"
#include "data_test_util.hpp"
#include "difss/data/dataset.hpp"
#include "difss/data/dataset_check.hpp"

using namespace difss::data;
using difss::test::count_value;
using difss::test::TempDir;
using difss::test::write_text;

TEST_CASE("COCO compressed RLE strings decode to known counts", "[data][coco-json]") {
  using detail::rle_from_string;
  using detail::rle_to_string;
  // Derived by hand from the format: 12 -> '<' (48 + 12); 5 -> '5'; 3 -> '3'; the 4th count is
  // stored as 5 - 5 = 0 -> '0'; the 5th as 175 - 3 = 172 = 12 + 5 * 32 -> (12 | 0x20) + 48 = '\',
  // then 5 -> '5'.
  CHECK(rle_from_string("<530\\5") == detail::RleCounts{12, 5, 3, 5, 175});
  // 183 = 23 + 5 * 32: 23 has the 0x10 bit, so a second group follows: 48 + (23 | 0x20) = 'g', '5'.
  CHECK(rle_from_string("<5g5") == detail::RleCounts{12, 5, 183});
  // A negative difference: the 4th count 1 is stored as 1 - 2 = -1 -> 0x1f -> 'O'.
  CHECK(rle_from_string("123O") == detail::RleCounts{1, 2, 3, 1});
  for (const detail::RleCounts& c : {detail::RleCounts{12, 5, 3, 5, 175}, detail::RleCounts{1, 2, 3, 1},
                                     detail::RleCounts{0, 70000, 5, 3, 1000000, 2}})
    CHECK(rle_from_string(rle_to_string(c)) == c);
  CHECK(rle_to_string({12, 5, 183}) == "<5g5");
  CHECK_THROWS_WITH(rle_from_string("<5g"), Catch::Contains("ends inside"));
  CHECK_THROWS(rle_from_string("<5~"));
}

TEST_CASE("COCO polygons: boxes and triangles with hand-counted pixels", "[data][coco-json]") {
  auto area = [](const std::vector<double>& xy, int h, int w) {
    cv::Mat m = cv::Mat::zeros(h, w, CV_8UC1);
    detail::paint_rle(m, detail::rle_from_polygon(xy, h, w), 1);
    return count_value(m, 1);
  };
  // A box with integer corners covers exactly its area: pixel (x, y) has its centre at
  // (x + 0.5, y + 0.5).
  CHECK(area({2, 2, 8, 2, 8, 6, 2, 6}, 10, 20) == 24);
  CHECK(area({0, 0, 10, 0, 10, 10, 0, 10}, 10, 10) == 100);
  // Right triangle (10,0) (20,0) (10,10): column 10 + k holds the centres (10 + k + .5, r + .5)
  // with r + .5 < 10 - (k + .5), i.e. 9 - k pixels; sum over k = 0..9 = 45 (the 10 pixels whose
  // centre lies on the hypotenuse are outside). Area 50 = 45 + 10 / 2.
  CHECK(area({10, 0, 20, 0, 10, 10}, 10, 20) == 45);
  // Clipped at the image border; a repeated vertex changes nothing.
  CHECK(area({-3, -3, 4, -3, 4, 4, -3, 4}, 10, 20) == 16);
  CHECK(area({2, 2, 8, 2, 8, 2, 8, 6, 2, 6}, 10, 20) == 24);
  cv::Mat small = cv::Mat::zeros(3, 3, CV_8UC1);
  CHECK_THROWS_WITH(detail::paint_rle(small, {3, 2}, 1), Catch::Contains("add up to 5"));
}

namespace {

// Three 20x10 images. Categories 3 "cat", 7 "dog", 9 "bird" (no annotation).
//  img1: cat polygon box (24 px) + cat polygon triangle (45 px) as two objects; dog RLE counts
//        [0, 5, 195] (column 0, rows 0..4: 5 px)
//  img2: cat compressed RLE "<530\5" (column 1 rows 2..6 + column 2 rows 0..4: 10 px); a cat
//        crowd region, counts [100, 10, 90] (column 10: 10 px)
//  img3: dog polygon box 4x4 (16 px); a cat crowd region [100, 10, 90] only
const char* kAnnotations = R"({
  "images": [
    {"id": 1, "file_name": "img1.jpg", "height": 10, "width": 20},
    {"id": 2, "file_name": "img2.jpg", "height": 10, "width": 20},
    {"id": 3, "file_name": "sub/img3.jpg", "height": 10, "width": 20}],
  "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}, {"id": 9, "name": "bird"}],
  "annotations": [
    {"id": 11, "image_id": 1, "category_id": 3, "iscrowd": 0, "area": 24, "segmentation": [[2,2, 8,2, 8,6, 2,6]]},
    {"id": 12, "image_id": 1, "category_id": 3, "iscrowd": 0, "area": 50, "segmentation": [[10,0, 20,0, 10,10]]},
    {"id": 13, "image_id": 1, "category_id": 7, "iscrowd": 0, "area": 5,
     "segmentation": {"size": [10, 20], "counts": [0, 5, 195]}},
    {"id": 21, "image_id": 2, "category_id": 3, "iscrowd": 0, "area": 10,
     "segmentation": {"size": [10, 20], "counts": "<530\\5"}},
    {"id": 22, "image_id": 2, "category_id": 3, "iscrowd": 1, "area": 10,
     "segmentation": {"size": [10, 20], "counts": [100, 10, 90]}},
    {"id": 31, "image_id": 3, "category_id": 7, "iscrowd": 0, "area": 16, "segmentation": [[0,0, 4,0, 4,4, 0,4]]},
    {"id": 32, "image_id": 3, "category_id": 3, "iscrowd": 1, "area": 10,
     "segmentation": {"size": [10, 20], "counts": [100, 10, 90]}}]
})";

struct CocoFixture {
  TempDir tmp;
  DatasetConfig cfg;
  CocoFixture() {
    for (const char* f : {"img1.jpg", "img2.jpg", "sub/img3.jpg"}) difss::test::write_jpeg(tmp / "images" / f, 20, 10);
    write_text(tmp / "annotations/instances.json", kAnnotations);
    cfg.kind = "coco-json";
    cfg.root = tmp.path();
    cfg.options = {{"annotations", "annotations/instances.json"}};
  }
  std::size_t sample(const Dataset& ds, const std::string& name, int class_id) const {
    for (std::size_t i = 0; i < ds.samples().size(); ++i)
      if (ds.samples()[i].name == name && ds.samples()[i].class_id == class_id) return i;
    FAIL("no sample " << name << " of class " << class_id);
    return 0;
  }
};

}  // namespace

TEST_CASE("coco-json: polygons, RLE and crowd regions become class masks", "[data][coco-json]") {
  CocoFixture f;
  const auto ds = open_dataset(f.cfg);
  // Contiguous ids in category-id order: cat (3) -> 1, dog (7) -> 2; bird has no image.
  REQUIRE(ds->classes().size() == 2);
  CHECK(ds->class_info(1).name == "cat");
  CHECK(ds->class_info(2).name == "dog");
  CHECK(ds->class_set() == "custom");
  CHECK(ds->episode_protocol() == EpisodeProtocol::shuffled);
  REQUIRE(ds->samples().size() == 4);  // cat: img1, img2 (img3 has only a crowd cat); dog: img1, img3
  CHECK(ds->samples_of_class(1).size() == 2);

  const cv::Mat cat1 = ds->load_mask(f.sample(*ds, "img1", 1));
  CHECK(cat1.size() == cv::Size(20, 10));
  CHECK(count_value(cat1, 1) == 24 + 45);  // two objects merged into the class mask
  CHECK(count_value(cat1, 255) == 0);
  const cv::Mat dog1 = ds->load_mask(f.sample(*ds, "img1", 2));
  CHECK(count_value(dog1, 1) == 5);
  CHECK(cv::countNonZero(dog1.col(0).rowRange(0, 5)) == 5);  // column-major runs
  const cv::Mat cat2 = ds->load_mask(f.sample(*ds, "img2", 1));
  CHECK(count_value(cat2, 1) == 10);
  CHECK(cat2.at<std::uint8_t>(2, 1) == 1);
  CHECK(cat2.at<std::uint8_t>(4, 2) == 1);
  CHECK(count_value(cat2, 255) == 10);  // crowd -> ignore by default
  CHECK(cv::countNonZero(cat2.col(10) == 255) == 10);
  CHECK(count_value(ds->load_mask(f.sample(*ds, "sub/img3", 2)), 1) == 16);
  CHECK(check_dataset_files(*ds).problem_count == 0);

  SECTION("crowd = include: crowd regions are foreground and make the class present") {
    f.cfg.options["crowd"] = "include";
    const auto inc = open_dataset(f.cfg);
    CHECK(inc->samples_of_class(1).size() == 3);
    CHECK(count_value(inc->load_mask(f.sample(*inc, "img2", 1)), 1) == 20);
    CHECK(count_value(inc->load_mask(f.sample(*inc, "sub/img3", 1)), 1) == 10);
  }
  SECTION("crowd = skip: crowd regions are background") {
    f.cfg.options["crowd"] = "skip";
    const auto skip = open_dataset(f.cfg);
    const cv::Mat m = skip->load_mask(f.sample(*skip, "img2", 1));
    CHECK(count_value(m, 1) == 10);
    CHECK(count_value(m, 255) == 0);
  }
  SECTION("class_ids = category_id, min_area, group_regex, classes") {
    f.cfg.options["class_ids"] = "category_id";
    const auto by_id = open_dataset(f.cfg);
    CHECK(by_id->class_info(3).name == "cat");
    CHECK(by_id->class_info(7).name == "dog");
    f.cfg.options["min_area"] = "11";  // img2's cat (10) and img1's dog (5) are too small
    f.cfg.options["min_images"] = "1";
    const auto big = open_dataset(f.cfg);
    CHECK(big->samples_of_class(3).size() == 1);
    CHECK(big->samples_of_class(7).size() == 1);
    f.cfg.options.erase("min_area");
    f.cfg.options["group_regex"] = "^(\\w+)";
    CHECK(open_dataset(f.cfg)->group_count() == 3);
    f.cfg.options["classes"] = "dog";
    CHECK(open_dataset(f.cfg)->classes().size() == 1);
  }
}

TEST_CASE("coco-json: bad input names the file and the annotation", "[data][coco-json][errors]") {
  CocoFixture f;
  f.cfg.options.erase("annotations");
  CHECK_THROWS_WITH(open_dataset(f.cfg), Catch::Contains("annotations") && Catch::Contains("required"));
  f.cfg.options["annotations"] = "annotations/instances.json";
  std::string bad = kAnnotations;
  bad.replace(bad.find("\"size\": [10, 20], \"counts\": [0, 5, 195]"), 39, "\"size\": [10, 21], \"counts\": [0, 5, 195]");
  write_text(f.tmp / "annotations/instances.json", bad);
  CHECK_THROWS_WITH(open_dataset(f.cfg), Catch::Contains("annotation 13") && Catch::Contains("[10,21]"));
  write_text(f.tmp / "annotations/instances.json", "{\"images\": []");
  CHECK_THROWS_WITH(open_dataset(f.cfg), Catch::Contains("instances.json") && Catch::Contains("not a JSON object"));
  bad = kAnnotations;
  bad.replace(bad.find("[0, 5, 195]"), 11, "[0, 5, 194]");
  write_text(f.tmp / "annotations/instances.json", bad);
  const auto ds = open_dataset(f.cfg);
  CHECK_THROWS_WITH(ds->load_mask(f.sample(*ds, "img1", 2)), Catch::Contains("annotation 13") && Catch::Contains("add up to 199"));
  f.cfg.options["crowd"] = "maybe";
  CHECK_THROWS_WITH(open_dataset(f.cfg), Catch::Contains("crowd"));
}

TEST_CASE("coco-json: an image whose size differs from the JSON's; mask_resize", "[data][coco-json]") {
  CocoFixture f;
  difss::test::write_jpeg(f.tmp / "images/img1.jpg", 40, 20);  // the JSON says 20 x 10
  const auto strict = open_dataset(f.cfg);
  const DatasetCheck check = check_dataset_files(*strict);  // JSON size vs the JPEG's header
  REQUIRE(check.problem_count == 1);
  CHECK_THAT(check.problems[0].what, Catch::Contains("20x10") && Catch::Contains("40x20"));
  CHECK_THROWS_WITH(strict->load_mask(f.sample(*strict, "img1", 1)),
                    Catch::Contains("20x10") && Catch::Contains("40x20") && Catch::Contains("img1.jpg") &&
                        Catch::Contains("mask_resize"));
  f.cfg.options["mask_resize"] = "nearest";
  const auto ds = open_dataset(f.cfg);
  const cv::Mat m = ds->load_mask(f.sample(*ds, "img1", 1));
  CHECK(m.size() == cv::Size(40, 20));
  CHECK(count_value(m, 1) == 4 * (24 + 45));
}
