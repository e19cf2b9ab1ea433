// BAM's and CyCTR's test episode sequences against the ones dumped from the official SemData +
// DataLoader on a stand-in list (tests/data/bam_episodes/README.md, tests/data/cyctr_episodes/README.md).
#include <catch2/catch.hpp>

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
