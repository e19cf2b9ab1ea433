// fss1000, folder, yolo-seg and synthetic readers; the kind registry.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "data_test_util.hpp"
#include "difss/data/dataset.hpp"
#include "difss/data/dataset_check.hpp"
#include "difss/data/splits.hpp"
#include "shared_data.hpp"

using namespace difss::data;
using difss::test::count_value;
using difss::test::TempDir;
using difss::test::write_text;

TEST_CASE("registry: unknown kinds list the known ones", "[data][registry]") {
  DatasetConfig cfg;
  cfg.kind = "pascal";
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("unknown dataset kind 'pascal'") && Catch::Contains("pascal5i") &&
                                           Catch::Contains("coco20i") && Catch::Contains("fss1000") &&
                                           Catch::Contains("folder") && Catch::Contains("yolo-seg"));
  const auto kinds = dataset_kinds();
  REQUIRE(kinds.size() >= 6);
  for (const auto& k : kinds) CHECK_FALSE(k.layout.empty());
}

TEST_CASE("fss1000 on the FSS-1000 sample class (0/1 masks)", "[data][fss][shared]") {
  DIFSS_REQUIRE_SHARED("data/fss1000-sample");
  DatasetConfig cfg;
  cfg.kind = "fss1000";
  cfg.root = difss::test::shared_dir() / "data/fss1000-sample";
  cfg.split = "test";
  const auto ds = open_dataset(cfg);
  REQUIRE(ds->classes().size() == 1);
  CHECK(ds->classes()[0].id == 1);
  CHECK(ds->classes()[0].name == "eiffel_tower");
  CHECK(ds->classes()[0].prompt_name == "eiffel tower");
  CHECK(ds->class_set() == "fss1000");
  REQUIRE(ds->samples().size() == 5);
  CHECK(ds->samples()[0].name == "eiffel_tower/1");
  CHECK(ds->samples()[4].name == "eiffel_tower/5");
  CHECK(ds->default_episode_count() == 5);
  CHECK(ds->aux_label(1) == 1);
  // Foreground pixels, from (np.array(PIL.Image.open(p).convert('L')) == 1).sum(): 1.png 900,
  // 2.png 2582 (the sample's RGB masks hold 0/1 in each channel).
  CHECK(count_value(ds->load_mask(0), 1) == 900);
  CHECK(count_value(ds->load_mask(1), 1) == 2582);
  CHECK(ds->load_image(0).size() == cv::Size(224, 224));

  SECTION("with an HSNet-style test list the class gets HSNet's id + 1 (761..1000)") {
    TempDir tmp;
    write_text(tmp / "splits/fss/test.txt", "eiffel_tower\r\n");  // HSNet's lists have CRLF
    cfg.split_dir = tmp / "splits";
    const auto listed = open_dataset(cfg);
    CHECK(listed->classes()[0].id == 761);
    CHECK(listed->samples().size() == 5);
  }
}

TEST_CASE("HSNet's FSS-1000 test list: 240 classes, CRLF stripped", "[data][fss][shared]") {
  DIFSS_REQUIRE_SHARED("ref/hsnet-splits");
  const auto names = read_lines(difss::test::shared_dir() / "ref/hsnet-splits/fss/test.txt");
  CHECK(names.size() == 240);
  for (const auto& n : names) CHECK(n.find('\r') == std::string::npos);
  // 240 classes x 10 images: HSNet's 2400 test episodes = default_episode_count().
}

TEST_CASE("fss1000: HSNet's file order, 0/255 masks, missing masks", "[data][fss]") {
  TempDir tmp;
  const auto cls = tmp / "FSS-1000/some_thing";
  for (int n : {1, 2, 10}) {
    difss::test::write_jpeg(cls / (std::to_string(n) + ".jpg"), 20, 10);
    cv::imwrite((cls / (std::to_string(n) + ".png")).string(),
                difss::test::label_runs(20, 10, {{255, 30 + n}}));  // 0/255 encoding
  }
  DatasetConfig cfg;
  cfg.kind = "fss1000";
  cfg.root = tmp.path();
  cfg.split = "test";
  const auto ds = open_dataset(cfg);
  REQUIRE(ds->samples().size() == 3);
  // sorted(glob()) order as in HSNet: "1.jpg" < "10.jpg" < "2.jpg".
  CHECK(ds->samples()[0].name == "some_thing/1");
  CHECK(ds->samples()[1].name == "some_thing/10");
  CHECK(ds->samples()[2].name == "some_thing/2");
  CHECK(count_value(ds->load_mask(1), 1) == 40);
  std::filesystem::remove(cls / "2.png");
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("2.png") && Catch::Contains("Expected layout"));
  cfg.split_dir = tmp / "splits";
  write_text(tmp / "splits/fss/test.txt", "no_such_class\n");
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("no_such_class"));
}

TEST_CASE("folder: PerSAM's flat NAME_NN layout with palette masks", "[data][folder][shared]") {
  DIFSS_REQUIRE_SHARED("data/persam");
  DatasetConfig cfg;
  cfg.kind = "folder";
  cfg.root = difss::test::shared_dir() / "data/persam";
  const auto ds = open_dataset(cfg);
  REQUIRE(ds->classes().size() == 3);
  CHECK(ds->classes()[0].name == "cat");
  CHECK(ds->classes()[1].name == "colorful_sneaker");
  CHECK(ds->classes()[1].prompt_name == "colorful sneaker");
  CHECK(ds->classes()[2].name == "duck_toy");
  REQUIRE(ds->samples().size() == 9);
  CHECK(ds->samples()[0].name == "cat_00");
  CHECK(ds->samples()[8].name == "duck_toy_02");
  CHECK(count_value(ds->load_mask(0), 1) == 467890);  // palette index 1 of cat_00.png
  CHECK(ds->aux_label(2) == 1);
  CHECK(ds->describe()["classes"].size() == 3);
}

TEST_CASE("folder: nested layout, mask naming variants, min_images", "[data][folder]") {
  TempDir tmp;
  const auto r = tmp / "mine";
  difss::test::write_jpeg(r / "apple/a.jpg", 16, 16);
  cv::imwrite((r / "apple/a_mask.png").string(), difss::test::label_runs(16, 16, {{1, 50}}));
  difss::test::write_jpeg(r / "apple/b.jpg", 16, 16);
  std::filesystem::create_directories(r / "apple/masks");
  cv::imwrite((r / "apple/masks/b.png").string(), difss::test::label_runs(16, 16, {{255, 60}}));
  difss::test::write_jpeg(r / "apple/c.jpg", 16, 16);
  cv::imwrite((r / "apple/c.png").string(), difss::test::label_runs(16, 16, {{1, 70}}));
  difss::test::write_jpeg(r / "pear/p.jpg", 16, 16);
  cv::imwrite((r / "pear/p.png").string(), difss::test::label_runs(16, 16, {{1, 5}}));
  DatasetConfig cfg;
  cfg.kind = "folder";
  cfg.root = r;
  const auto ds = open_dataset(cfg);
  REQUIRE(ds->classes().size() == 1);  // pear has 1 image < shots + 1
  CHECK(ds->classes()[0].id == 1);
  REQUIRE(ds->samples().size() == 3);
  CHECK(ds->samples()[0].name == "apple/a");
  CHECK(count_value(ds->load_mask(0), 1) == 50);
  CHECK(count_value(ds->load_mask(1), 1) == 60);
  CHECK(count_value(ds->load_mask(2), 1) == 70);
  cfg.options["min_images"] = "1";
  const auto all = open_dataset(cfg);
  REQUIRE(all->classes().size() == 2);
  CHECK(all->classes()[1].id == 2);
  CHECK(all->classes()[1].name == "pear");
  cfg.options["classes"] = "pear";
  const auto sub = open_dataset(cfg);
  REQUIRE(sub->classes().size() == 1);
  CHECK(sub->classes()[0].id == 2);  // ids stay those of the full sorted list
  difss::test::write_jpeg(r / "pear/q.jpg", 16, 16);
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("q.jpg") && Catch::Contains("q_mask.png"));
}

TEST_CASE("yolo-seg on coco128-seg: classes, pairs, rasterised polygons", "[data][yolo][shared]") {
  DIFSS_REQUIRE_SHARED("data/coco128-seg");
  DatasetConfig cfg;
  cfg.kind = "yolo-seg";
  cfg.root = difss::test::shared_dir() / "data/coco128-seg";
  cfg.shots = 1;
  const auto ds = open_dataset(cfg);
  // Counted with /usr/bin/python3 over the 126 images that have a label file (two images have
  // none, two label files have no image): 71 classes present, 64 with >= 2 images (355
  // image-class pairs), 49 with >= 3 images.
  CHECK(ds->classes().size() == 64);
  CHECK(ds->samples().size() == 355);
  CHECK(ds->class_set() == "coco");
  CHECK(ds->class_info(1).name == "person");
  CHECK(ds->class_info(46).name == "bowl");  // YOLO class 45
  const DatasetCheck files = check_dataset_files(*ds);  // polygons are drawn at the image's size
  std::set<std::string> distinct;  // each image once, though listed for each of its classes
  for (const auto& s : ds->samples()) distinct.insert(s.image_path.string());
  CHECK(files.images == distinct.size());
  CHECK(distinct.size() < ds->samples().size());
  CHECK(files.problem_count == 0);
  cfg.shots = 2;
  CHECK(open_dataset(cfg)->classes().size() == 49);

  // 000000000009.jpg (640x480), YOLO class 45: union of its polygons. Reference: the same
  // vertices ((x*W - 0.5) * 256, rounded) through python cv2.fillPoly(shift=8) -> 189248 px;
  // the shoelace area of the polygons is 188784.8 px.
  std::size_t idx = ds->samples().size();
  for (std::size_t i = 0; i < ds->samples().size(); ++i)
    if (ds->samples()[i].name == "000000000009" && ds->samples()[i].class_id == 46) idx = i;
  REQUIRE(idx < ds->samples().size());
  const cv::Mat m = ds->load_mask(idx);
  CHECK(m.size() == cv::Size(640, 480));
  const double area = static_cast<double>(count_value(m, 1));
  CHECK(area == 189248);
  CHECK(std::abs(area - 188784.8) / 188784.8 < 0.005);
  CHECK(count_value(m, 1) + count_value(m, 0) == 640u * 480u);
  const cv::Mat m51 = ds->load_mask(idx, 51);  // class 50 of the same image: 50039 px (python)
  CHECK(count_value(m51, 1) == 50039);
}

TEST_CASE("yolo-seg bad labels name the file and line", "[data][yolo][errors]") {
  TempDir tmp;
  difss::test::write_jpeg(tmp / "images/a.jpg", 8, 8);
  difss::test::write_jpeg(tmp / "images/b.jpg", 8, 8);
  write_text(tmp / "labels/a.txt", "0 0.1 0.1 0.9 0.1 0.5 0.9\n");
  write_text(tmp / "labels/b.txt", "0 0.1 0.1 0.9 0.1 0.5 0.9\n0 0.5 0.5 0.2 0.2\n");
  DatasetConfig cfg;
  cfg.kind = "yolo-seg";
  cfg.root = tmp.path();
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("b.txt:2") && Catch::Contains("box"));
  write_text(tmp / "labels/b.txt", "0 0.1 0.1 0.9 0.1 nan 0.9\n");
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("b.txt:1"));
  write_text(tmp / "labels/b.txt", "80 0.1 0.1 0.9 0.1 0.5 0.9\n");
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("b.txt:1") && Catch::Contains("80"));
  write_text(tmp / "labels/b.txt", "0 0.1 0.1 0.9 0.1 0.5 0.9\n");
  write_text(tmp / "names.txt", "thing\n");
  cfg.options["names"] = (tmp / "names.txt").string();
  const auto ds = open_dataset(cfg);
  CHECK(ds->class_set() == "custom");
  CHECK(ds->classes()[0].name == "thing");
  CHECK(ds->samples().size() == 2);
}

TEST_CASE("synthetic: deterministic drawn samples", "[data][synthetic]") {
  DatasetConfig cfg;
  cfg.kind = "synthetic";
  cfg.options = {{"classes", "4"}, {"images_per_class", "3"}, {"size", "48"}};
  const auto a = open_dataset(cfg);
  const auto b = open_dataset(cfg);
  REQUIRE(a->samples().size() == 12);
  for (std::size_t i = 0; i < 12; ++i) {
    const cv::Mat ia = a->load_image(i), ib = b->load_image(i), m = a->load_mask(i);
    CHECK(ia.size() == cv::Size(48, 48));
    CHECK(cv::norm(ia, ib, cv::NORM_INF) == 0);
    const auto fg = count_value(m, 1);
    CHECK(fg > 20);
    CHECK(fg + count_value(m, 0) == 48u * 48u);
  }
  cfg.options["seed"] = "5";
  CHECK(cv::norm(a->load_image(0), open_dataset(cfg)->load_image(0), cv::NORM_INF) > 0);
}
