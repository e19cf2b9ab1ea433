// pascal5i and coco20i readers: HSNet's lists, the derivation rule, masks, errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "data_test_util.hpp"
#include "difss/data/dataset.hpp"
#include "difss/data/episodes.hpp"
#include "difss/data/image_io.hpp"
#include "difss/data/splits.hpp"
#include "shared_data.hpp"

using namespace difss::data;
using difss::test::count_value;
using difss::test::TempDir;
using difss::test::write_text;

namespace {

const std::filesystem::path kVocSample = "data/voc-sample";
const std::filesystem::path kHsnetSplits = "ref/hsnet-splits";

// A mini VOC2012 (64x64 images, fold-0 classes 1..5) with pixel counts around the 2048 rule:
//   2008_000001: class 1 x 2048 (kept: >= 2048), class 2 x 2047 (dropped), 1 boundary pixel
//   2008_000002: class 3 x 3000, class 7 x 1096 (fold 1, dropped anyway)
//   2008_000003: class 1 x 2500, class 5 x 1500 (dropped)
//   2008_000004: class 2 x 4000                                   (not in val.txt: trn)
//   2008_000005: class 6 x 2100, class 1 x 1996                   (not in val.txt: trn)
//   2008_000006: class 3 x 2500
void make_mini_voc(const std::filesystem::path& voc) {
  const std::vector<std::pair<std::string, std::vector<std::pair<int, int>>>> images = {
      {"2008_000001", {{1, 2048}, {2, 2047}, {255, 1}}},
      {"2008_000002", {{3, 3000}, {7, 1096}}},
      {"2008_000003", {{1, 2500}, {5, 1500}}},
      {"2008_000004", {{2, 4000}}},
      {"2008_000005", {{6, 2100}, {1, 1996}}},
      {"2008_000006", {{3, 2500}}},
  };
  int tint = 0;
  for (const auto& [id, runs] : images) {
    difss::test::write_jpeg(voc / "JPEGImages" / (id + ".jpg"), 64, 64, tint += 10);
    write_label_png(voc / "SegmentationClassAug" / (id + ".png"), difss::test::label_runs(64, 64, runs));
  }
  write_text(voc / "ImageSets/Segmentation/val.txt", "2008_000001\n2008_000002\n2008_000003\n2008_000006\n");
}

std::vector<std::pair<std::string, int>> pairs_of(const Dataset& ds) {
  std::vector<std::pair<std::string, int>> out;
  for (const auto& s : ds.samples()) out.emplace_back(s.name, s.class_id);
  return out;
}

}  // namespace

TEST_CASE("HSNet's PASCAL val lists are sorted 'ID__CC' lines of the fold's classes", "[data][pascal][shared]") {
  DIFSS_REQUIRE_SHARED(kHsnetSplits);
  const std::size_t expect_lines[4] = {346, 451, 725, 346};
  for (int f = 0; f < 4; ++f) {
    const auto pairs = read_hsnet_pascal_list(difss::test::shared_dir() / kHsnetSplits /
                                              ("pascal/val/fold" + std::to_string(f) + ".txt"));
    CHECK(pairs.size() == expect_lines[f]);
    for (const auto& p : pairs) {
      CHECK(p.class_id > 5 * f);
      CHECK(p.class_id <= 5 * f + 5);
    }
    // derive_label_pairs sorts the same way, so derived lists come in HSNet's order.
    CHECK(std::is_sorted(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) {
      return a.image + "__" + std::to_string(100 + a.class_id) < b.image + "__" + std::to_string(100 + b.class_id);
    }));
  }
}

TEST_CASE("derived PASCAL pairs equal HSNet's lists on the VOC sample images", "[data][pascal][shared]") {
  DIFSS_REQUIRE_SHARED(kVocSample);
  DIFSS_REQUIRE_SHARED(kHsnetSplits);
  const std::vector<std::string> ids = {"2011_000003", "2011_000006", "2011_000025"};
  // What HSNet lists for these images, over every fold's trn list (they are VOC train images).
  std::set<std::pair<std::string, int>> listed;
  for (int f = 0; f < 4; ++f)
    for (const auto& p : read_hsnet_pascal_list(difss::test::shared_dir() / kHsnetSplits /
                                                ("pascal/trn/fold" + std::to_string(f) + ".txt")))
      if (std::find(ids.begin(), ids.end(), p.image) != ids.end()) listed.emplace(p.image, p.class_id);
  std::vector<int> all;
  for (int c = 1; c <= 20; ++c) all.push_back(c);
  const auto derived = derive_label_pairs(difss::test::shared_dir() / kVocSample / "SegmentationClassPNG", ids, all);
  std::set<std::pair<std::string, int>> got;
  for (const auto& p : derived) got.emplace(p.image, p.class_id);
  CHECK(got == listed);
  // 6 pairs; 2011_000003's bottle (class 5, 873 pixels < 2048) is in neither.
  CHECK(got.size() == 6);
  CHECK(got.count({"2011_000003", 5}) == 0);
  CHECK(got.count({"2011_000003", 15}) == 1);
}

TEST_CASE("pascal5i on the VOC sample: masks as indices, boundary ignored", "[data][pascal][shared]") {
  DIFSS_REQUIRE_SHARED(kVocSample);
  TempDir tmp;
  // A split list in HSNet's format (the two person pairs of the sample).
  write_text(tmp / "splits/pascal/val/fold2.txt", "2011_000003__15\n2011_000006__15\n");
  DatasetConfig cfg;
  cfg.kind = "pascal5i";
  cfg.root = difss::test::shared_dir() / kVocSample;
  cfg.fold = 2;
  cfg.split_dir = tmp / "splits";
  cfg.options["mask_dir"] = "SegmentationClassPNG";
  const auto ds = open_dataset(cfg);
  CHECK(ds->class_set() == "pascal");
  REQUIRE(ds->classes().size() == 5);
  CHECK(ds->class_ids() == std::vector<int>{11, 12, 13, 14, 15});
  CHECK(ds->class_info(15).name == "person");
  CHECK(ds->class_info(11).name == "diningtable");
  CHECK(ds->class_info(11).prompt_name == "dining table");
  REQUIRE(ds->samples().size() == 2);
  CHECK(ds->samples()[0].name == "2011_000003");
  CHECK(ds->default_episode_count() == 1000);
  const cv::Mat m = ds->load_mask(0);
  CHECK(m.size() == cv::Size(500, 338));
  CHECK(count_value(m, 1) == 32900);
  CHECK(count_value(m, 255) == 9460);
  CHECK(count_value(m, 0) == 500 * 338 - 32900 - 9460);  // the bottle pixels are background
  const cv::Mat img = ds->load_image(0);
  CHECK(img.size() == m.size());
  CHECK(ds->aux_label(15) == 15);
  // Any VOC class can be asked for: bottle in the same image.
  CHECK(count_value(ds->load_mask(0, 5), 1) == 873);
}

TEST_CASE("pascal5i with HSNet's real list reports the missing images", "[data][pascal][shared]") {
  DIFSS_REQUIRE_SHARED(kVocSample);
  DIFSS_REQUIRE_SHARED(kHsnetSplits);
  DatasetConfig cfg;
  cfg.kind = "pascal5i";
  cfg.root = difss::test::shared_dir() / kVocSample;
  cfg.split_dir = difss::test::shared_dir() / kHsnetSplits;
  cfg.options["mask_dir"] = "SegmentationClassPNG";
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("missing") && Catch::Contains("2007_000033.jpg") &&
                                           Catch::Contains("Expected layout") && Catch::Contains("JPEGImages"));
}

TEST_CASE("pascal5i derives HSNet's pairs from a mini VOC, identical to the list form", "[data][pascal]") {
  TempDir tmp;
  const auto voc = tmp / "VOC2012";
  make_mini_voc(voc);
  DatasetConfig cfg;
  cfg.kind = "pascal5i";
  cfg.root = tmp.path();  // the parent of VOC2012/ is accepted, as HSNet's datapath
  cfg.fold = 0;
  const auto derived = open_dataset(cfg);
  const std::vector<std::pair<std::string, int>> expect = {
      {"2008_000001", 1}, {"2008_000002", 3}, {"2008_000003", 1}, {"2008_000006", 3}};
  CHECK(pairs_of(*derived) == expect);
  CHECK(derived->split_source().find("derived") != std::string::npos);

  write_text(tmp / "splits/pascal/val/fold0.txt", "2008_000001__01\n2008_000002__03\n2008_000003__01\n2008_000006__03\n");
  cfg.split_dir = tmp / "splits";
  const auto listed = open_dataset(cfg);
  CHECK(pairs_of(*listed) == expect);
  // Same pairs, same order: the same episodes.
  CHECK(make_episodes(*derived, 50, 7, 1) == make_episodes(*listed, 50, 7, 1));

  // trn for fold 0 = pairs of classes 6..20 among the images not in val.txt.
  cfg.split_dir.clear();
  cfg.split = "trn";
  const auto trn = open_dataset(cfg);
  const std::vector<std::pair<std::string, int>> expect_trn = {{"2008_000005", 6}};
  CHECK(pairs_of(*trn) == expect_trn);
  CHECK(trn->classes().size() == 15);

  // Boundary pixel of image 1 is ignored in its class mask.
  const cv::Mat m = derived->load_mask(0);
  CHECK(count_value(m, 1) == 2048);
  CHECK(count_value(m, 255) == 1);

  // min_pixels lowers the threshold: class 5 (1500 px) of image 3 now appears.
  cfg.split = "val";
  cfg.options["min_pixels"] = "1500";
  CHECK(open_dataset(cfg)->samples().size() == 6);  // + (1, 2) 2047 px and (3, 5) 1500 px
}

TEST_CASE("pascal5i bad input: missing root, list, size mismatch, bad fold", "[data][pascal][errors]") {
  TempDir tmp;
  DatasetConfig cfg;
  cfg.kind = "pascal5i";
  cfg.root = tmp / "nowhere";
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("nowhere") && Catch::Contains("Expected layout") &&
                                           Catch::Contains("SegmentationClassAug"));
  const auto voc = tmp / "VOC2012";
  make_mini_voc(voc);
  cfg.root = voc;
  cfg.split_dir = tmp / "nosplits";
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("fold0.txt") && Catch::Contains("not found"));
  // Image 64x48 but mask 64x64.
  difss::test::write_jpeg(voc / "JPEGImages/2008_000009.jpg", 64, 48);
  write_label_png(voc / "SegmentationClassAug/2008_000009.png", difss::test::label_runs(64, 64, {{2, 3000}}));
  write_text(tmp / "splits/pascal/val/fold0.txt", "2008_000009__02\n");
  cfg.split_dir = tmp / "splits";
  const auto ds = open_dataset(cfg);
  CHECK_THROWS_WITH(ds->load_mask(0), Catch::Contains("2008_000009.png") && Catch::Contains("2008_000009.jpg") &&
                                          Catch::Contains("64x64") && Catch::Contains("64x48"));
  write_text(tmp / "splits/pascal/val/fold0.txt", "2008_000001__07\n");
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("class 7") && Catch::Contains("fold 0"));
  write_text(tmp / "splits/pascal/val/fold0.txt", "2008_000001_x\n");
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("IMAGEID__CC") && Catch::Contains("line 1"));
  cfg.fold = 4;
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("fold"));
  cfg.fold = 0;
  cfg.options["colour"] = "red";
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("colour") && Catch::Contains("mask_dir"));
}

// ---------------------------------------------------------------------------------------------
// COCO

namespace {

// pickle.dumps({0: [img1, img2], 1: [], 4: [img2, img3]}, protocol=p) with img2 the same object
// (so later references are memo GETs, as in HSNet's fold pickles), from /usr/bin/python3.
std::string unhex(const std::string& h) {
  std::string out;
  for (std::size_t k = 0; k + 1 < h.size(); k += 2) out.push_back(static_cast<char>(std::stoi(h.substr(k, 2), nullptr, 16)));
  return out;
}
const char* const kPickle3 =
    "80037d7100284b005d710128582500000076616c323031342f434f434f5f76616c323031345f3030303030303030303030312e6a7067"
    "7102582500000076616c323031342f434f434f5f76616c323031345f3030303030303030303030322e6a70677103654b015d71044b04"
    "5d7105286803582500000076616c323031342f434f434f5f76616c323031345f3030303030303030303030332e6a7067710665752e";
const char* const kPickle4 =
    "8004958f000000000000007d94284b005d94288c2576616c323031342f434f434f5f76616c323031345f3030303030303030303030"
    "312e6a7067948c2576616c323031342f434f434f5f76616c323031345f3030303030303030303030322e6a706794654b015d944b04"
    "5d942868038c2576616c323031342f434f434f5f76616c323031345f3030303030303030303030332e6a70679465752e";

std::string coco_img(int n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "val2014/COCO_val2014_%012d.jpg", n);
  return buf;
}

// Mini COCO 2014 (64x64): label values = 1-based classes.
//   img 1: class 1 x 2500, class 2 x 1500;  img 2: class 1 x 2096, class 5 x 2000;
//   img 3: class 5 x 2048, class 2 x 2048
void make_mini_coco(const std::filesystem::path& root) {
  const std::vector<std::vector<std::pair<int, int>>> runs = {
      {{1, 2500}, {2, 1500}}, {{1, 2096}, {5, 2000}}, {{5, 2048}, {2, 2048}}};
  for (int n = 1; n <= 3; ++n) {
    const std::string rel = coco_img(n);
    difss::test::write_jpeg(root / rel, 64, 64, n * 20);
    const std::string stem = rel.substr(0, rel.size() - 4);
    std::filesystem::create_directories(root / "annotations/val2014");
    // HSNet's COCO label PNGs are greyscale (OpenCV writes 8-bit grey).
    cv::imwrite((root / "annotations" / (stem + ".png")).string(),
                difss::test::label_runs(64, 64, runs[static_cast<std::size_t>(n - 1)]));
  }
}

}  // namespace

TEST_CASE("HSNet COCO fold pickles are read without Python", "[data][coco]") {
  const auto p3 = parse_pickled_class_lists(unhex(kPickle3), "p3");
  const auto p4 = parse_pickled_class_lists(unhex(kPickle4), "p4");
  REQUIRE(p3.size() == 3);
  CHECK(p3[0].first == 0);
  CHECK(p3[0].second == std::vector<std::string>{coco_img(1), coco_img(2)});
  CHECK(p3[1].first == 1);
  CHECK(p3[1].second.empty());
  CHECK(p3[2].first == 4);
  CHECK(p3[2].second == std::vector<std::string>{coco_img(2), coco_img(3)});
  CHECK(p4 == p3);
  // Truncated data, and opcodes outside dict[int, list[str]] (GLOBAL 'c'), are refused.
  const std::string full = unhex(kPickle3);
  CHECK_THROWS_WITH(parse_pickled_class_lists(full.substr(0, 60), "cut.pkl"), Catch::Contains("cut.pkl"));
  CHECK_THROWS_WITH(parse_pickled_class_lists(std::string("\x80\x03" "cos\nsystem\n.", 14), "evil.pkl"),
                    Catch::Contains("evil.pkl") && Catch::Contains("unsupported pickle opcode 0x63"));
}

TEST_CASE("HSNet's COCO lists use interleaved folds", "[data][coco][shared]") {
  DIFSS_REQUIRE_SHARED(kHsnetSplits);
  for (int f = 0; f < 4; ++f) {
    const auto lists = read_hsnet_coco_split(difss::test::shared_dir() / kHsnetSplits /
                                             ("coco/val/fold" + std::to_string(f) + ".txt"));
    std::set<int> keys;
    for (const auto& [c, imgs] : lists)
      if (!imgs.empty()) keys.insert(c);
    std::set<int> expect;  // HSNet: class_ids_val = [fold + 4 * v for v in range(20)]
    for (int v = 0; v < 20; ++v) expect.insert(f + 4 * v);
    CHECK(keys == expect);
    if (f == 0) {
      CHECK(lists[0].first == 0);
      CHECK(lists[0].second.size() == 19217);
      CHECK(lists[0].second[0] == "val2014/COCO_val2014_000000429717.jpg");
      std::size_t total = 0;
      for (const auto& l : lists) total += l.second.size();
      CHECK(total == 35783);
    }
  }
}

TEST_CASE("coco20i: HSNet pickle or derived lists, masks of one class", "[data][coco]") {
  TempDir tmp;
  make_mini_coco(tmp / "COCO2014");
  write_text(tmp / "splits/coco/val/fold0.pkl", unhex(kPickle3));
  DatasetConfig cfg;
  cfg.kind = "coco20i";
  cfg.root = tmp.path();  // parent of COCO2014/, as HSNet's datapath
  cfg.fold = 0;
  cfg.split_dir = tmp / "splits";
  const auto ds = open_dataset(cfg);
  CHECK(ds->class_set() == "coco");
  REQUIRE(ds->classes().size() == 20);
  CHECK(ds->classes()[0].id == 1);
  CHECK(ds->classes()[1].id == 5);  // fold 0: 1-based 1, 5, 9, ..., 77
  CHECK(ds->classes()[19].id == 77);
  CHECK(ds->episode_protocol() == EpisodeProtocol::class_uniform);
  REQUIRE(ds->samples().size() == 4);
  CHECK(ds->samples()[0].name == "val2014/COCO_val2014_000000000001");
  CHECK(ds->samples()[3].class_id == 5);
  const cv::Mat m = ds->load_mask(2);  // img 2, class 5
  CHECK(count_value(m, 1) == 2000);
  CHECK(count_value(m, 0) == 4096 - 2000);

  // Episodes: the class is drawn among classes with images; supports differ from the query.
  for (const auto& e : make_episodes(*ds, 40, 3, 1)) {
    CHECK((e.class_id == 1 || e.class_id == 5));
    CHECK(ds->samples()[e.query].class_id == e.class_id);
    CHECK(ds->samples()[e.supports[0]].name != ds->samples()[e.query].name);
  }

  // Derived (no split_dir): img 2's class 5 has 2000 < 2048 pixels and is dropped.
  cfg.split_dir.clear();
  const auto derived = open_dataset(cfg);
  std::vector<std::pair<std::string, int>> got;
  for (const auto& s : derived->samples()) got.emplace_back(s.name, s.class_id);
  const std::vector<std::pair<std::string, int>> expect = {{"val2014/COCO_val2014_000000000001", 1},
                                                           {"val2014/COCO_val2014_000000000002", 1},
                                                           {"val2014/COCO_val2014_000000000003", 5}};
  CHECK(got == expect);
  cfg.fold = 1;  // 1-based 2, 6, ...: class 2 of img 3 (2048 px); img 1's 1500 px dropped
  const auto f1 = open_dataset(cfg);
  REQUIRE(f1->samples().size() == 1);
  CHECK(f1->samples()[0].class_id == 2);
  CHECK(f1->samples()[0].name == "val2014/COCO_val2014_000000000003");
}

TEST_CASE("coco20i ignore_255: label 255 stays ignore for the BAM-family protocols, else background", "[data][coco]") {
  TempDir tmp;
  make_mini_coco(tmp / "COCO2014");
  // img 1 gets 300 pixels of 255 (BAM's loaders' ignore label).
  cv::imwrite((tmp / "COCO2014/annotations/val2014/COCO_val2014_000000000001.png").string(),
              difss::test::label_runs(64, 64, {{1, 2500}, {255, 300}, {2, 1200}}));
  DatasetConfig cfg;
  cfg.kind = "coco20i";
  cfg.root = tmp / "COCO2014";
  cfg.fold = 0;
  cfg.options = {{"min_pixels", "1"}};
  const auto hsnet = open_dataset(cfg);  // HSNet's rule: no ignore label
  REQUIRE(hsnet->samples()[0].name == "val2014/COCO_val2014_000000000001");
  CHECK(count_value(hsnet->load_mask(0), 255) == 0);
  CHECK(count_value(hsnet->load_mask(0), 1) == 2500);
  cfg.options["ignore_255"] = "1";
  const auto bam = open_dataset(cfg);
  CHECK(count_value(bam->load_mask(0), 255) == 300);
  CHECK(count_value(bam->load_mask(0), 1) == 2500);
  cfg.options["ignore_255"] = "2";
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("ignore_255"));
}
