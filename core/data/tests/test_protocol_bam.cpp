// BAM's and CyCTR's test episode sequences against the ones dumped from the official SemData +
// DataLoader on a stand-in list (tests/data/bam_episodes/README.md, tests/data/cyctr_episodes/README.md).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "data_test_util.hpp"
#include "difss/data/protocols.hpp"
#include "shared_data.hpp"

using namespace difss::data;
using nlohmann::json;

namespace {

std::filesystem::path bam_dir() { return difss::test::source_dir() / "core/data/tests/data/bam_episodes"; }

BamLists standin_lists(const json& ref) {
  BamLists lists;
  for (const auto& [image, label] : read_bam_data_list(bam_dir() / "data_list_0.txt"))
    lists.data_list.push_back({image, label, ref.at("labels").at(label).get<std::vector<int>>()});
  lists.class_files = read_bam_class_files(bam_dir() / "sub_class_file_list_0.txt");
  return lists;
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

TEST_CASE("BAM's evaluation seeds: np.random.seed(123); randint(0, 1000, 5)", "[data][protocol]") {
  CHECK(bam_test_seeds() == std::vector<std::uint32_t>{510, 365, 382, 322, 988});
  const auto ten = bam_test_seeds(123, 10);  // HDMNet's ten start with BAM's five
  REQUIRE(ten.size() == 10);
  CHECK(std::vector<std::uint32_t>(ten.begin(), ten.begin() + 5) == bam_test_seeds());
}

TEST_CASE("BAM test episodes equal the official sequences (8 workers and none, 1 and 5 shots, five seeds)", "[data][protocol]") {
  std::ifstream in(bam_dir() / "bam_sequences.json");
  REQUIRE(in);
  const json ref = json::parse(in);
  const BamLists lists = standin_lists(ref);
  REQUIRE(lists.data_list.size() == 37);
  REQUIRE(lists.class_files.size() == 5);
  CHECK(ref.at("seeds").get<std::vector<std::uint32_t>>() == bam_test_seeds());
  REQUIRE(ref.at("runs").size() == 11);
  for (const auto& run : ref.at("runs")) {
    const int shots = run.at("shots"), workers = run.at("workers");
    const std::uint32_t seed = run.at("seed");
    INFO("seed " << seed << ", " << shots << " shot(s), " << workers << " workers");
    const auto ours = bam_test_episodes(lists, shots, seed, workers);
    REQUIRE(ours.size() == run.at("episodes").get<std::size_t>());
    const json& first = run.at("first");
    for (std::size_t i = 0; i < first.size(); ++i) {
      INFO("episode " << i);
      REQUIRE(ours[i] == (NamedEpisode{first[i].at(0), first[i].at(1), first[i].at(2).get<std::vector<std::string>>()}));
    }
    CHECK(hex64(fnv1a64(canonical_text(ours))) == run.at("fnv1a64").get<std::string>());
  }
}

TEST_CASE("BAM protocol: lists are read, bad input is refused with a clear message", "[data][protocol]") {
  difss::test::TempDir tmp;
  difss::test::write_text(tmp / "bad.txt", "only_one_field\n");
  CHECK_THROWS_WITH(read_bam_data_list(tmp / "bad.txt"), Catch::Contains("bad.txt") && Catch::Contains("line 1"));
  difss::test::write_text(tmp / "odd.txt", "{1: [['a.jpg', 'a.png'], ['b.jpg']]}");
  CHECK_THROWS_WITH(read_bam_class_files(tmp / "odd.txt"), Catch::Contains("class 1"));
  difss::test::write_text(tmp / "ok.txt", "{1: [['a.jpg', 'a.png'], ['b.jpg', 'b.png']], 12: []}");
  const auto files = read_bam_class_files(tmp / "ok.txt");
  REQUIRE(files.size() == 2);
  CHECK(files.at(1)[1] == std::make_pair(std::string("b.jpg"), std::string("b.png")));
  CHECK(files.at(12).empty());
  BamLists lists;
  lists.data_list = {{"a.jpg", "a.png", {1}}, {"b.jpg", "b.png", {1}}};
  lists.class_files = {{1, {{"a.jpg", "a.png"}, {"b.jpg", "b.png"}}}};
  CHECK(bam_test_episodes(lists, 1, 5, 8, 10).size() == 10);
  CHECK_THROWS_WITH(bam_test_episodes(lists, 2, 5), Catch::Contains("support candidate"));
  lists.data_list[0].novel_classes.clear();
  CHECK_THROWS_WITH(bam_test_episodes(lists, 1, 5), Catch::Contains("no novel class"));
}

TEST_CASE("CyCTR test episodes equal the official sequences (seed 123, 1001 episodes, at most 20 passes)",
          "[data][protocol]") {
  // Dumped from CyCTR's own SemData + DataLoader + validate() loop on BAM's stand-in list, and on
  // that list twice (tests/data/cyctr_episodes/README.md).
  std::ifstream in(difss::test::source_dir() / "core/data/tests/data/cyctr_episodes/cyctr_sequences.json");
  REQUIRE(in);
  const json ref = json::parse(in);
  std::ifstream bam_in(bam_dir() / "bam_sequences.json");
  REQUIRE(bam_in);
  const BamLists once = standin_lists(json::parse(bam_in));
  BamLists twice = once;
  twice.data_list.insert(twice.data_list.end(), once.data_list.begin(), once.data_list.end());
  REQUIRE(ref.at("runs").size() == 6);
  for (const auto& run : ref.at("runs")) {
    const int shots = run.at("shots"), workers = run.at("workers"), repeats = run.at("list_repeats");
    INFO(shots << " shot(s), " << workers << " workers, the list " << repeats << " time(s)");
    REQUIRE(run.at("seed") == kCyctrSeed);
    const auto ours = cyctr_test_episodes(repeats == 1 ? once : twice, shots, kCyctrSeed, workers);
    // 37 entries: the 20 passes end first; 74: test.py's break test lets 1001 through.
    CHECK(ours.size() == (repeats == 1 ? 740u : kCyctrEpisodes));
    REQUIRE(ours.size() == run.at("episodes").get<std::size_t>());
    const json& first = run.at("first");
    for (std::size_t i = 0; i < first.size(); ++i) {
      INFO("episode " << i);
      REQUIRE(ours[i] == (NamedEpisode{first[i].at(0), first[i].at(1), first[i].at(2).get<std::vector<std::string>>()}));
    }
    CHECK(hex64(fnv1a64(canonical_text(ours))) == run.at("fnv1a64").get<std::string>());
    // The same draws as BAM's sampler with seed 123: CyCTR's sequence extends that one.
    const auto bam = bam_test_episodes(repeats == 1 ? once : twice, shots, kCyctrSeed, workers, 500);
    CHECK(std::equal(bam.begin(), bam.end(), ours.begin()));
  }
  CHECK(cyctr_test_episodes(twice, 1, kCyctrSeed, 8, 30).size() == 30);  // [dataset] episodes: a prefix
  CHECK_THROWS_WITH(cyctr_test_episodes(twice, 1, kCyctrSeed, 8, 1002), Catch::Contains("1001 episodes"));
}

namespace {

std::filesystem::path coco_dir() { return difss::test::source_dir() / "core/data/tests/data/coco_bam_episodes"; }

// The COCO stand-in lists with each entry's fold-0 classes (use_split_coco: 1, 5, ..., 77) present.
BamLists coco_standin_lists(const json& ref) {
  BamLists lists;
  for (const auto& [image, label] : read_bam_data_list(coco_dir() / "data_list_0.txt")) {
    BamListItem item{image, label, {}};
    for (int c : ref.at("labels").at(label).get<std::vector<int>>())
      if (c != 255 && c % 4 == 1) item.novel_classes.push_back(c);
    lists.data_list.push_back(std::move(item));
  }
  lists.class_files = read_bam_class_files(coco_dir() / "sub_class_file_list_0.txt");
  return lists;
}

}  // namespace

TEST_CASE("BAM-family settings per benchmark: episodes, seeds, workers, val_size of each test script", "[data][protocol]") {
  const auto bam = bam_family_settings("bam", "coco");
  CHECK((bam.episodes == 1000 && bam.seed_count == 5 && bam.workers == 8 && bam.val_size == 641 && bam.max_passes == 0));
  const auto hdm = bam_family_settings("hdmnet", "coco");
  CHECK((hdm.episodes == 10000 && hdm.seed_count == 10 && hdm.workers == 8 && hdm.val_size == 633));
  const auto cyc = bam_family_settings("cyctr", "coco");
  CHECK((cyc.episodes == 5001 && cyc.test_num == 5000 && cyc.seed_count == 0 && cyc.manual_seed == 321 &&
         cyc.workers == 16 && cyc.val_size == 473 && cyc.max_passes == 20));
  for (const char* p : {"bam", "hdmnet"}) {  // PASCAL: as before
    const auto s = bam_family_settings(p, "pascal");
    CHECK((s.episodes == 1000 && s.workers == 8 && s.val_size == 473));
  }
  const auto cyc_voc = bam_family_settings("cyctr", "pascal");
  CHECK((cyc_voc.episodes == kCyctrEpisodes && cyc_voc.manual_seed == kCyctrSeed && cyc_voc.workers == 8));
  CHECK_THROWS_WITH(bam_family_settings("bam", "fss"), Catch::Contains("'fss'"));
  CHECK_THROWS_WITH(bam_family_settings("hsnet", "coco"), Catch::Contains("'hsnet'"));
}

TEST_CASE("BAM, HDMNet and CyCTR COCO test episodes (use_split_coco, fold 0) equal the official sequences",
          "[data][protocol]") {
  // Dumped from BAM's, HDMNet's and CyCTR's own SemData + DataLoader + validate() loops on a
  // stand-in COCO list (tests/data/coco_bam_episodes/README.md).
  std::ifstream in(coco_dir() / "coco_sequences.json");
  REQUIRE(in);
  const json ref = json::parse(in);
  const BamLists once = coco_standin_lists(ref);
  REQUIRE(once.data_list.size() == 60);
  CHECK(ref.at("seeds").get<std::vector<std::uint32_t>>() == bam_test_seeds(123, 10));
  std::size_t checked = 0;
  for (const auto& run : ref.at("runs")) {
    const std::string protocol = run.at("protocol");
    const int shots = run.at("shots"), workers = run.at("workers"), repeats = run.at("list_repeats");
    const std::uint32_t seed = run.at("seed");
    INFO(protocol << ": seed " << seed << ", " << shots << " shot(s), " << workers << " workers, list x" << repeats);
    const BamFamilySettings s = bam_family_settings(protocol, "coco");
    BamLists lists = once;
    for (int k = 1; k < repeats; ++k) lists.data_list.insert(lists.data_list.end(), once.data_list.begin(), once.data_list.end());
    const auto ours = s.max_passes ? cyctr_test_episodes(lists, shots, seed, workers, 0, s.test_num)
                                   : bam_test_episodes(lists, shots, seed, workers, s.episodes);
    REQUIRE(ours.size() == run.at("episodes").get<std::size_t>());
    for (std::size_t i = 0; i < run.at("first").size(); ++i) {  // [class, query line, [support lines]]
      const json& e = run.at("first")[i];
      INFO("episode " << i);
      NamedEpisode want{e.at(0), once.data_list.at(e.at(1).get<std::size_t>()).image, {}};
      for (const auto& line : e.at(2)) want.supports.push_back(once.data_list.at(line.get<std::size_t>()).image);
      REQUIRE(ours[i] == want);
    }
    CHECK(hex64(fnv1a64(canonical_text(ours))) == run.at("fnv1a64").get<std::string>());
    ++checked;
  }
  CHECK(checked == 18);
}

TEST_CASE("DifFSS-BAM's real PASCAL val lists (split 0): its own sampler's five seeds", "[data][protocol]") {
  // DifFSS-BAM's lists/pascal/fss_list/val (MIT) and the sequences its SemData (1 real + 4 aux)
  // drew from them through a DataLoader (tests/data/difss_bam_pascal_lists/README.md).
  const auto dir = difss::test::source_dir() / "core/data/tests/data/difss_bam_pascal_lists";
  std::ifstream in(dir / "real_pascal_sequences.json");
  REQUIRE(in);
  const json ref = json::parse(in);
  BamLists lists;
  lists.class_files = read_bam_class_files(dir / "sub_class_file_list_0.txt");
  for (const auto& [image, label] : read_bam_data_list(dir / "data_list_0.txt")) {
    BamListItem item{image, label, {}};
    for (const auto& [c, files] : lists.class_files)  // the stand-in labels: the classes that list the image
      if (std::find(files.begin(), files.end(), std::make_pair(image, label)) != files.end()) item.novel_classes.push_back(c);
    lists.data_list.push_back(std::move(item));
  }
  REQUIRE(lists.data_list.size() == 364);
  CHECK(ref.at("seeds").get<std::vector<std::uint32_t>>() == bam_test_seeds());
  REQUIRE(ref.at("runs").size() == 5);
  for (const auto& run : ref.at("runs")) {
    const std::uint32_t seed = run.at("seed");
    INFO("seed " << seed);
    const auto ours = bam_test_episodes(lists, 1, seed, 8);
    REQUIRE(ours.size() == 1000);
    for (std::size_t i = 0; i < run.at("first").size(); ++i) {
      const json& e = run.at("first")[i];
      INFO("episode " << i);
      CHECK(ours[i].class_id == e.at(0).get<int>());
      CHECK(ours[i].query == lists.data_list.at(e.at(1).get<std::size_t>()).image);
      CHECK(ours[i].supports == std::vector<std::string>{lists.data_list.at(e.at(2)[0].get<std::size_t>()).image});
    }
    CHECK(hex64(fnv1a64(canonical_text(ours))) == run.at("fnv1a64").get<std::string>());
  }
}
