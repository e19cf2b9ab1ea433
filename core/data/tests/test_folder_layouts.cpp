// The folder reader on the layouts people have: parallel image/mask trees (video segmentation,
// figure-ground), class_map, groups and cross-group supports, JPEG masks of another size, masks
// with several classes and ignore values.
#include <catch2/catch.hpp>

#include <set>

#include <nlohmann/json.hpp>

#include "data_test_util.hpp"
#include "difss/data/dataset.hpp"
#include "difss/data/dataset_check.hpp"
#include "difss/data/episodes.hpp"
#include "difss/data/image_io.hpp"

using namespace difss::data;
using difss::test::count_value;
using difss::test::TempDir;
using difss::test::write_text;

namespace {

// A video-segmentation-style tree: JPEGImages/<video>/0000N.jpg, Annotations/<video>/0000N.png
// (palette PNGs whose indices are object instances 1, 2), `frames` frames per video.
void write_video_tree(const std::filesystem::path& root, const std::vector<std::string>& videos, int frames) {
  for (const auto& v : videos)
    for (int f = 0; f < frames; ++f) {
      const std::string stem = "0000" + std::to_string(f);
      difss::test::write_jpeg(root / "JPEGImages" / v / (stem + ".jpg"), 24, 16, f * 10);
      // instance 1: 10 px, instance 2: 6 px -> 16 foreground pixels per frame
      std::filesystem::create_directories(root / "Annotations" / v);
      write_label_png(root / "Annotations" / v / (stem + ".png"), difss::test::label_runs(24, 16, {{0, 40}, {1, 10}, {2, 6}}));
    }
}

DatasetConfig video_config(const std::filesystem::path& root) {
  DatasetConfig cfg;
  cfg.kind = "folder";
  cfg.root = root;
  cfg.options = {{"images", "JPEGImages"}, {"masks", "Annotations"}, {"class_map", "classes.txt"}, {"group", "folder"}};
  return cfg;
}

}  // namespace

TEST_CASE("folder: video tree with a class -> videos map, groups and cross-group supports", "[data][folder][layouts]") {
  TempDir tmp;
  const auto root = tmp / "davis-like";
  write_video_tree(root, {"bear", "cat-girl", "dog", "lion", "tiger"}, 3);
  // "tiger" is listed nowhere: its frames are skipped; files are read where they are, unrenamed.
  write_text(root / "classes.txt", "# class: videos\nanimal: bear dog\nfeline: lion, cat-girl\n");
  const auto ds = open_dataset(video_config(root));
  REQUIRE(ds->classes().size() == 2);
  CHECK(ds->classes()[0].name == "animal");
  CHECK(ds->classes()[1].name == "feline");
  REQUIRE(ds->samples().size() == 12);
  CHECK(ds->samples()[0].name == "bear/00000");
  CHECK(ds->samples()[0].group == "bear");
  CHECK(ds->samples()[0].image_path == root / "JPEGImages/bear/00000.jpg");
  CHECK(ds->samples()[0].mask_path == root / "Annotations/bear/00000.png");
  CHECK(ds->group_count() == 4);
  CHECK(ds->describe()["groups"] == 4);
  // Palette indices 1 and 2 (two instances) are both foreground.
  CHECK(count_value(ds->load_mask(0), 1) == 16);
  CHECK(count_value(ds->load_mask(0), 0) == 24u * 16u - 16u);

  const auto eps = make_episodes(*ds, 60, 3, 2, SupportSampling::cross_group);
  const auto& s = ds->samples();
  for (const auto& e : eps)
    for (std::size_t j : e.supports) {
      CHECK(s[j].class_id == e.class_id);
      CHECK(s[j].group != s[e.query].group);
    }
  for (const auto& e : make_episodes(*ds, 24, 3, 3, SupportSampling::cross_group_distinct)) {
    CHECK(std::set<std::size_t>(e.supports.begin(), e.supports.end()).size() == 3);
    for (std::size_t j : e.supports) CHECK(s[j].group != s[e.query].group);
  }
  // Only 3 frames of the other video: 4 distinct cross-group supports are impossible.
  CHECK_THROWS_WITH(make_episodes(*ds, 1, 3, 4, SupportSampling::cross_group_distinct),
                    Catch::Contains("outside its group") && Catch::Contains("4 distinct"));
  // Without cross_group, supports from the query's own video occur.
  int same = 0;
  for (const auto& e : make_episodes(*ds, 60, 3, 1)) same += s[e.supports[0]].group == s[e.query].group;
  CHECK(same > 0);

  SECTION("a class whose images all come from one video cannot have cross-group supports") {
    write_text(root / "classes.txt", "animal: bear dog\nsolo: lion\n");
    const auto one = open_dataset(video_config(root));
    CHECK_THROWS_WITH(make_episodes(*one, 4, 0, 1, SupportSampling::cross_group),
                      Catch::Contains("solo (only 'lion')") && Catch::Contains("single group"));
  }
  SECTION("cross_group on a dataset without groups says how to define them") {
    auto cfg = video_config(root);
    cfg.options.erase("group");
    CHECK_THROWS_WITH(make_episodes(*open_dataset(cfg), 4, 0, 1, SupportSampling::cross_group),
                      Catch::Contains("defines none") && Catch::Contains("group_regex"));
  }
  SECTION("inline class_map (a TOML table arrives as JSON), class_level, group_regex") {
    auto cfg = video_config(root);
    cfg.options["class_map"] = R"({"animal":["bear","dog"],"feline":"lion"})";
    CHECK(open_dataset(cfg)->samples().size() == 9);
    cfg.options.erase("class_map");
    const auto per_video = open_dataset(cfg);  // the folder at depth 1 is the class
    CHECK(per_video->classes().size() == 5);
    CHECK(per_video->classes()[1].name == "cat-girl");
    cfg.options.erase("group");
    cfg.options["group_regex"] = "^([a-z]+)";  // "cat-girl/00001" -> "cat"
    CHECK(open_dataset(cfg)->samples()[3].group == "cat");
    cfg.options["group"] = "folder";
    CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("not both"));
    cfg.options.erase("group");
    cfg.options.erase("group_regex");
    cfg.options["group_level"] = "1";  // the folder at depth 1: the video
    CHECK(open_dataset(cfg)->group_count() == 5);
    cfg.options["group_level"] = "2";
    CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("group_level = 2") && Catch::Contains("bear/00000"));
  }
}

TEST_CASE("folder: figure-ground set, rgb/*.jpg + smaller JPEG masks, with options only", "[data][folder][layouts]") {
  TempDir tmp;
  const auto root = tmp / "fg";
  for (int i = 0; i < 3; ++i) {
    const std::string stem = "img" + std::to_string(i);
    difss::test::write_jpeg(root / "rgb" / (stem + ".jpg"), 48, 32, 20 * i);
    // Mask at half the size: 8x8 blocks of 255 (block-aligned, so JPEG keeps them), 1 + i blocks.
    cv::Mat m = cv::Mat::zeros(16, 24, CV_8UC1);
    for (int b = 0; b <= i; ++b) m(cv::Rect(8 * b, 8, 8, 8)).setTo(255);
    std::filesystem::create_directories(root / "figure_ground");
    cv::imwrite((root / "figure_ground" / (stem + ".jpg")).string(), m);
  }
  std::filesystem::create_directories(root / "gray");  // other folders of the set stay unread
  DatasetConfig cfg;
  cfg.kind = "folder";
  cfg.root = root;
  // Pointed at the set without options: the error says how to read parallel trees.
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("img0.jpg") && Catch::Contains("options images and masks"));

  cfg.options = {{"images", "rgb"}, {"masks", "figure_ground"}, {"mask_ext", "jpg"}, {"class", "object"},
                 {"mask_threshold", "128"}};
  const auto strict = open_dataset(cfg);
  REQUIRE(strict->samples().size() == 3);
  CHECK(strict->samples()[2].name == "img2");
  CHECK_THROWS_WITH(strict->load_mask(0),
                    Catch::Contains("figure_ground/img0.jpg") && Catch::Contains("24x16") && Catch::Contains("48x32") &&
                        Catch::Contains("mask_resize = \"nearest\""));
  cfg.options["mask_resize"] = "nearest";
  const auto ds = open_dataset(cfg);
  REQUIRE(ds->classes().size() == 1);
  CHECK(ds->classes()[0].name == "object");
  for (std::size_t i = 0; i < 3; ++i) {
    const cv::Mat m = ds->load_mask(i);
    CHECK(m.size() == cv::Size(48, 32));
    CHECK(count_value(m, 1) == 256 * (i + 1));  // 64 px per block at half size, x4 resized
    CHECK(count_value(m, 0) == 48u * 32u - 256 * (i + 1));
  }
  cfg.options["mask_resize"] = "bilinear";
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("mask_resize") && Catch::Contains("nearest"));
}

TEST_CASE("folder: index masks with several classes per image and ignore values", "[data][folder][layouts]") {
  TempDir tmp;
  const auto root = tmp / "multi";
  // a: 30 px of 1, 20 of 2, 5 of 255; b: 12 of 1; c: 7 of 2 and 3 of 3 (3 maps to "dog" too)
  const std::vector<std::vector<std::pair<int, int>>> runs = {
      {{1, 30}, {2, 20}, {255, 5}}, {{0, 50}, {1, 12}}, {{2, 7}, {3, 3}, {0, 10}, {255, 1}}};
  const char* stems[] = {"a", "b", "c"};
  for (int i = 0; i < 3; ++i) {
    difss::test::write_jpeg(root / "images" / (std::string(stems[i]) + ".jpg"), 16, 8);
    std::filesystem::create_directories(root / "labels");
    cv::imwrite((root / "labels" / (std::string(stems[i]) + "_label.png")).string(), difss::test::label_runs(16, 8, runs[i]));
  }
  DatasetConfig cfg;
  cfg.kind = "folder";
  cfg.root = root;
  cfg.options = {{"images", "images"},          {"masks", "labels"},          {"mask_suffix", "_label"},
                 {"mask_values", R"({"1":"cat","2":"dog","3":"dog"})"}, {"ignore_values", "[255]"},
                 {"min_images", "1"}};
  const auto ds = open_dataset(cfg);
  REQUIRE(ds->classes().size() == 2);
  CHECK(ds->class_info(1).name == "cat");
  CHECK(ds->class_info(2).name == "dog");
  REQUIRE(ds->samples().size() == 4);  // a/cat, b/cat, a/dog, c/dog
  CHECK(ds->samples_of_class(1).size() == 2);
  CHECK(ds->samples_of_class(2).size() == 2);
  const std::size_t a_dog = ds->samples_of_class(2)[0], c_dog = ds->samples_of_class(2)[1];
  CHECK(ds->samples()[a_dog].name == "a");
  cv::Mat m = ds->load_mask(a_dog);
  CHECK(count_value(m, 1) == 20);
  CHECK(count_value(m, 255) == 5);
  m = ds->load_mask(a_dog, 1);  // the same image, class cat
  CHECK(count_value(m, 1) == 30);
  CHECK(count_value(ds->load_mask(c_dog), 1) == 10);  // values 2 and 3
  CHECK(count_value(ds->load_mask(c_dog), 255) == 1);
  CHECK(ds->aux_label(2) == 2);
  cfg.options["min_pixels"] = "13";  // b's 12 cat pixels are too few
  CHECK(open_dataset(cfg)->samples_of_class(1).size() == 1);
  cfg.options["mask_values"] = "1:cat,2:dog";  // the string form
  cfg.options.erase("min_pixels");
  CHECK(open_dataset(cfg)->samples().size() == 4);
  cfg.options["mask_threshold"] = "5";
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("exclude each other"));
}

TEST_CASE("folder: binary masks with ignore values and a threshold; missing masks", "[data][folder][layouts]") {
  TempDir tmp;
  const auto r = tmp / "cls";
  for (const char* stem : {"a", "b"}) {
    difss::test::write_jpeg(r / "thing" / (std::string(stem) + ".jpg"), 10, 10);
    // 0/100/200 grey levels plus 7 pixels of value 50 marked as "don't care"
    cv::imwrite((r / "thing" / (std::string(stem) + ".bmp")).string(),
                difss::test::label_runs(10, 10, {{100, 20}, {200, 30}, {50, 7}}));
  }
  DatasetConfig cfg;
  cfg.kind = "folder";
  cfg.root = r;
  cfg.options = {{"mask_ext", "bmp"}, {"ignore_values", "50"}};
  auto ds = open_dataset(cfg);
  cv::Mat m = ds->load_mask(0);
  CHECK(count_value(m, 1) == 30);  // the default rule: >= 128
  CHECK(count_value(m, 255) == 7);
  cfg.options["mask_threshold"] = "100";
  m = open_dataset(cfg)->load_mask(0);
  CHECK(count_value(m, 1) == 50);
  CHECK(count_value(m, 255) == 7);

  // Parallel trees in which some frames have no mask (sparse annotation): error or skip.
  const auto t = tmp / "sparse";
  difss::test::write_jpeg(t / "img/v/1.jpg", 8, 8);
  difss::test::write_jpeg(t / "img/v/2.jpg", 8, 8);
  difss::test::write_jpeg(t / "img/v/3.jpg", 8, 8);
  std::filesystem::create_directories(t / "ann/v");
  cv::imwrite((t / "ann/v/1.png").string(), cv::Mat::ones(8, 8, CV_8UC1));
  cv::imwrite((t / "ann/v/3.PNG").string(), cv::Mat::ones(8, 8, CV_8UC1));
  DatasetConfig tc;
  tc.kind = "folder";
  tc.root = t;
  tc.options = {{"images", "img"}, {"masks", "ann"}};
  CHECK_THROWS_WITH(open_dataset(tc), Catch::Contains("v/2.jpg") && Catch::Contains("missing_masks"));
  tc.options["missing_masks"] = "skip";
  ds = open_dataset(tc);
  REQUIRE(ds->samples().size() == 2);
  CHECK(ds->samples()[1].mask_path == t / "ann/v/3.PNG");
  tc.options["layout"] = "flat";
  CHECK_THROWS_WITH(open_dataset(tc), Catch::Contains("layout does not apply"));
}

TEST_CASE("folder: the nested layout's error says that sub-folders are not searched", "[data][folder][layouts]") {
  TempDir tmp;
  difss::test::write_jpeg(tmp / "root/cls/deeper/a.jpg", 8, 8);
  DatasetConfig cfg;
  cfg.kind = "folder";
  cfg.root = tmp / "root";
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("not its sub-folders") && Catch::Contains("images and masks"));
}

TEST_CASE("check_dataset_files: missing and unreadable masks, size mismatches, from headers", "[data][folder][check]") {
  TempDir tmp;
  const auto root = tmp / "set";
  for (const char* stem : {"a", "b", "c", "d"}) {
    difss::test::write_jpeg(root / "img" / (std::string(stem) + ".jpg"), 32, 16);
    std::filesystem::create_directories(root / "ann");
    cv::imwrite((root / "ann" / (std::string(stem) + ".png")).string(), cv::Mat::ones(16, 32, CV_8UC1));
  }
  cv::imwrite((root / "ann/b.png").string(), cv::Mat::ones(8, 16, CV_8UC1));  // half size
  write_text(root / "ann/c.png", "not a png");
  DatasetConfig cfg;
  cfg.kind = "folder";
  cfg.root = root;
  cfg.options = {{"images", "img"}, {"masks", "ann"}, {"class", "thing"}};
  const auto ds = open_dataset(cfg);
  std::vector<std::size_t> ticks;
  const DatasetCheck r = check_dataset_files(*ds, [&](std::size_t done, std::size_t total) {
    CHECK(total == 4);
    ticks.push_back(done);
  });
  CHECK(r.images == 4);
  CHECK(ticks == std::vector<std::size_t>{1, 2, 3, 4});
  REQUIRE(r.problem_count == 2);
  CHECK(r.problems[0].file == (root / "ann/b.png").string());
  CHECK_THAT(r.problems[0].what, Catch::Contains("16x8") && Catch::Contains("32x16") && Catch::Contains("b.jpg"));
  CHECK(r.problems[1].file == (root / "ann/c.png").string());
  CHECK_THAT(r.problems[1].what, Catch::Contains("mask unreadable"));
  CHECK(check_dataset_files(*ds, {}, 1).problems.size() == 1);
  cfg.options["mask_resize"] = "nearest";
  CHECK(check_dataset_files(*open_dataset(cfg)).problem_count == 1);  // only the unreadable one

  DatasetConfig syn;
  syn.kind = "synthetic";
  syn.options = {{"classes", "2"}, {"images_per_class", "3"}};
  CHECK(check_dataset_files(*open_dataset(syn)).problem_count == 0);  // drawn masks: the image's size
}

TEST_CASE("folder: class folders at depth 2 with masks next to the images (images = masks)", "[data][folder][layouts]") {
  TempDir tmp;
  const auto root = tmp / "deep";
  for (const char* v : {"cars/v1", "cars/v2", "boats/v3", "boats/v4"})
    for (const char* stem : {"f1", "f2"}) {
      difss::test::write_jpeg(root / v / (std::string(stem) + ".jpg"), 8, 8);
      cv::imwrite((root / v / (std::string(stem) + ".png")).string(), difss::test::label_runs(8, 8, {{1, 9}}));
    }
  DatasetConfig cfg;
  cfg.kind = "folder";
  cfg.root = root;
  cfg.options = {{"images", "."}, {"masks", "."}, {"group_level", "2"}};
  const auto ds = open_dataset(cfg);
  REQUIRE(ds->classes().size() == 2);  // the folder at depth 1
  CHECK(ds->classes()[0].name == "boats");
  REQUIRE(ds->samples().size() == 8);  // the .png files are masks, not images
  CHECK(ds->samples()[0].name == "boats/v3/f1");
  CHECK(ds->samples()[0].group == "v3");
  CHECK(count_value(ds->load_mask(0), 1) == 9);
  for (const auto& e : make_episodes(*ds, 8, 1, 1, SupportSampling::cross_group))
    CHECK(ds->samples()[e.supports[0]].group != ds->samples()[e.query].group);
}
