// HSNet's test episode sequences against the ones dumped from the official dataset classes
// (tests/data/hsnet_episodes/README.md), and their mapping onto a difss Dataset.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data_test_util.hpp"
#include "difss/data/dataset.hpp"
#include "difss/data/protocols.hpp"
#include "shared_data.hpp"

using namespace difss::data;
using difss::test::TempDir;
using nlohmann::json;

namespace {

const std::filesystem::path kHsnetSplits = "ref/hsnet-splits";

std::filesystem::path reference_dir() {
  return difss::test::source_dir() / "core/data/tests/data/hsnet_episodes";
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

NamedEpisode from_json(const json& e) {
  return NamedEpisode{e.at(0).get<int>(), e.at(1).get<std::string>(), e.at(2).get<std::vector<std::string>>()};
}

// Compares one committed reference file with our sequence: the listed prefix episode by
// episode (so a mismatch names the first differing episode), the count and the whole list's hash.
void check_reference(const std::filesystem::path& file) {
  std::ifstream in(file);
  REQUIRE(in);
  const json ref = json::parse(in);
  const auto benchmark = parse_hsnet_benchmark(ref.at("benchmark").get<std::string>());
  const int fold = ref.at("fold"), shots = ref.at("shots");
  INFO(file.filename().string());
  const auto ours = hsnet_test_episodes(benchmark, difss::test::shared_dir() / kHsnetSplits, fold, shots,
                                        ref.at("seed").get<std::uint32_t>());
  REQUIRE(ours.size() == ref.at("episodes").get<std::size_t>());
  CHECK(ours.size() == hsnet_test_episode_count(benchmark));
  const json& first = ref.at("first");
  REQUIRE(first.size() >= 50);
  for (std::size_t i = 0; i < first.size(); ++i) {
    INFO("episode " << i);
    REQUIRE(ours[i] == from_json(first[i]));
    CHECK(ours[i].supports.size() == static_cast<std::size_t>(shots));
  }
  CHECK(hex64(fnv1a64(canonical_text(ours))) == ref.at("fnv1a64").get<std::string>());
}

}  // namespace

TEST_CASE("HSNet test episodes equal the official sequences (PASCAL-5i, COCO-20i, FSS-1000)", "[data][protocol][shared]") {
  DIFSS_REQUIRE_SHARED(kHsnetSplits);
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(reference_dir()))
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  // PASCAL folds 0-3, COCO folds 0-3, FSS-1000 test; 1- and 5-shot each.
  REQUIRE(files.size() == 18);
  for (const auto& f : files) check_reference(f);
}

TEST_CASE("HSNet protocol: prefix property, seeds and episode counts", "[data][protocol][shared]") {
  DIFSS_REQUIRE_SHARED(kHsnetSplits);
  const auto dir = difss::test::shared_dir() / kHsnetSplits;
  const auto full = hsnet_test_episodes(HsnetBenchmark::pascal, dir, 2, 1);
  const auto head = hsnet_test_episodes(HsnetBenchmark::pascal, dir, 2, 1, 0, 40);
  REQUIRE(head.size() == 40);
  CHECK(std::equal(head.begin(), head.end(), full.begin()));
  CHECK(hsnet_test_episodes(HsnetBenchmark::pascal, dir, 2, 1, 1, 40) != head);
  CHECK(hsnet_test_episodes(HsnetBenchmark::fss, dir, 0, 1).size() == 2400);
  CHECK(hsnet_test_episode_count(HsnetBenchmark::coco) == 1000);
  CHECK_THROWS_WITH(hsnet_test_episodes(HsnetBenchmark::fss, dir, 0, 1, 0, 2401), Catch::Contains("2400"));
}

TEST_CASE("HSNet protocol: PASCAL queries cycle through the val list, supports never the query", "[data][protocol]") {
  const std::vector<ImageClassPair> list = {{"a", 1}, {"b", 1}, {"c", 2}, {"d", 2}, {"e", 2}};
  const auto eps = hsnet_pascal_test_episodes(list, 5);
  REQUIRE(eps.size() == 1000);
  for (std::size_t i = 0; i < eps.size(); ++i) {
    CHECK(eps[i].query == list[i % list.size()].image);
    CHECK(eps[i].class_id == list[i % list.size()].class_id);
    for (const auto& s : eps[i].supports) CHECK(s != eps[i].query);
  }
  // Class 1 has one other image: all five supports are it (HSNet repeats draws).
  CHECK(eps[0].supports == std::vector<std::string>(5, "b"));
}

TEST_CASE("HSNet protocol: bad input is refused with a clear message", "[data][protocol]") {
  CHECK_THROWS_WITH(hsnet_pascal_test_episodes({{"a", 1}, {"b", 2}}, 1), Catch::Contains("no image other than the query a"));
  CHECK_THROWS_WITH(hsnet_pascal_test_episodes({}, 1), Catch::Contains("empty"));
  CHECK_THROWS_WITH(hsnet_pascal_test_episodes({{"a", 1}, {"b", 1}}, 0), Catch::Contains("shots"));
  CHECK_THROWS_WITH(hsnet_coco_test_episodes({{0, {"x.jpg", "y.jpg"}}}, 0, 1), Catch::Contains("class 4"));
  CHECK_THROWS_WITH(hsnet_fss_episodes({"cat"}, 1, "train"), Catch::Contains("trn | val | test"));
  CHECK_THROWS_WITH(parse_hsnet_benchmark("voc"), Catch::Contains("pascal5i"));
  TempDir tmp;
  CHECK_THROWS_WITH(hsnet_test_episodes(HsnetBenchmark::pascal, tmp.path(), 0, 1),
                    Catch::Contains("pascal/val/fold0.txt") && Catch::Contains("data/splits"));
}

TEST_CASE("HSNet FSS-1000 episodes map onto an fss1000 dataset of stand-in images", "[data][protocol]") {
  TempDir tmp;
  const std::vector<std::string> classes = {"zebra_toy", "apple", "eiffel_tower"};
  for (const auto& c : classes)
    for (int n = 1; n <= 10; ++n) {
      const auto stem = tmp / "FSS-1000" / c / std::to_string(n);
      difss::test::write_jpeg(stem.string() + ".jpg", 8, 8);
      cv::imwrite(stem.string() + ".png", difss::test::label_runs(8, 8, {{255, 10}}));
    }
  difss::test::write_text(tmp / "splits/fss/test.txt", "zebra_toy\r\napple\r\neiffel_tower\r\n");
  DatasetConfig cfg;
  cfg.kind = "fss1000";
  cfg.root = tmp.path();
  cfg.split = "test";
  cfg.split_dir = tmp / "splits";
  const auto ds = open_dataset(cfg);
  const auto named = hsnet_test_episodes(HsnetBenchmark::fss, tmp / "splits", 0, 5);
  REQUIRE(named.size() == 30);
  CHECK(named[0].query == "apple/1.jpg");  // classes sorted, files in sorted-path order
  CHECK(named[1].query == "apple/10.jpg");
  CHECK(named[0].class_id == 761);
  const auto eps = to_dataset_episodes(*ds, named);
  REQUIRE(eps.size() == named.size());
  for (std::size_t i = 0; i < eps.size(); ++i) {
    CHECK(eps[i].query == i);  // difss lists FSS-1000 in HSNet's order
    CHECK(eps[i].class_id == named[i].class_id);
    CHECK(ds->samples()[eps[i].query].name == hsnet_sample_name(named[i].query));
    REQUIRE(eps[i].supports.size() == 5);
    for (std::size_t k = 0; k < 5; ++k)
      CHECK(ds->samples()[eps[i].supports[k]].name == hsnet_sample_name(named[i].supports[k]));
  }
  auto missing = named;
  missing[3].supports[0] = "apple/11.jpg";
  CHECK_THROWS_WITH(to_dataset_episodes(*ds, missing), Catch::Contains("episode 3") && Catch::Contains("apple/11"));
}

TEST_CASE("HSNet PASCAL-5i episodes map onto a pascal5i dataset of stand-in images", "[data][protocol][shared]") {
  DIFSS_REQUIRE_SHARED(kHsnetSplits);
  const auto splits = difss::test::shared_dir() / kHsnetSplits;
  TempDir tmp;
  const auto pairs = read_hsnet_pascal_list(splits / "pascal/val/fold1.txt");
  for (const auto& p : pairs) {  // 8x8 stand-ins: only names matter to the sampler
    const auto jpg = tmp / ("VOC2012/JPEGImages/" + p.image + ".jpg");
    if (std::filesystem::exists(jpg)) continue;
    difss::test::write_jpeg(jpg, 8, 8);
    const auto png = tmp / ("VOC2012/SegmentationClassAug/" + p.image + ".png");
    std::filesystem::create_directories(png.parent_path());
    cv::imwrite(png.string(), cv::Mat::zeros(8, 8, CV_8UC1));  // grey label PNG (no fsync: fast)
  }
  DatasetConfig cfg;
  cfg.kind = "pascal5i";
  cfg.root = tmp.path();
  cfg.fold = 1;
  cfg.shots = 5;
  cfg.split_dir = splits;
  const auto ds = open_dataset(cfg);
  const auto named = hsnet_test_episodes(HsnetBenchmark::pascal, splits, 1, 5);
  const auto eps = to_dataset_episodes(*ds, named);
  REQUIRE(eps.size() == 1000);
  for (std::size_t i = 0; i < eps.size(); ++i) {
    CHECK(eps[i].query == i % pairs.size());  // the dataset keeps HSNet's list order
    const Sample& q = ds->samples()[eps[i].query];
    CHECK(q.name == named[i].query);
    CHECK(q.class_id == named[i].class_id);
    for (std::size_t k = 0; k < eps[i].supports.size(); ++k)
      CHECK(ds->samples()[eps[i].supports[k]].name == named[i].supports[k]);
  }
}
