// Episode sampling: determinism, HSNet's structure, serialisation.
#include <catch2/catch.hpp>

#include <set>

#include <nlohmann/json.hpp>

#include "data_test_util.hpp"
#include "difss/data/dataset.hpp"
#include "difss/data/episodes.hpp"
#include "difss/data/metrics.hpp"
#include "shared_data.hpp"

using namespace difss::data;

namespace {
// In list order (query_order = "sequential", the order HSNet's PASCAL/FSS protocol uses).
std::unique_ptr<Dataset> synthetic(int classes, int per_class, int shots = 1) {
  DatasetConfig cfg;
  cfg.kind = "synthetic";
  cfg.shots = shots;
  cfg.options = {{"classes", std::to_string(classes)},
                 {"images_per_class", std::to_string(per_class)},
                 {"query_order", "sequential"}};
  return open_dataset(cfg);
}
}  // namespace

TEST_CASE("EpisodeRng is a fixed, documented stream", "[data][episodes]") {
  // SplitMix64 seeded with mix(mix(seed) ^ (index * golden + 0x632BE59BD9B4E019)); values from a
  // Python transcription of the README formula.
  EpisodeRng r00(0, 0);
  CHECK(r00.next() == 0xf5dd724ff3b8a536ULL);
  CHECK(r00.next() == 0x7c6ede0099d1dac1ULL);
  CHECK(r00.next() == 0x09f2c7599678a38eULL);
  EpisodeRng r01(0, 1);
  CHECK(r01.next() == 0x88ce4b48a6765bfcULL);
  EpisodeRng r427(42, 7);
  CHECK(r427.next() == 0xec116df4d7f64edeULL);
  CHECK(r427.next() == 0x6a997fa4762d4d48ULL);
  EpisodeRng r(1, 2);
  std::vector<int> hist(5, 0);
  for (int k = 0; k < 5000; ++k) ++hist[static_cast<std::size_t>(r.below(5))];
  for (int h : hist) CHECK(h > 850);  // expected 1000 each; 850 is > 5 sigma below
  CHECK_THROWS(r.below(0));
}

TEST_CASE("episodes: HSNet's sequential structure, deterministic per (seed, index)", "[data][episodes]") {
  const auto ds = synthetic(3, 5);
  const auto a = make_episodes(*ds, 40, 42, 1);
  const auto b = make_episodes(*ds, 40, 42, 1);
  const auto c = make_episodes(*ds, 40, 43, 1);
  CHECK(a == b);
  CHECK(a != c);
  const auto& s = ds->samples();
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto& e = a[i];
    CHECK(e.index == i);
    CHECK(e.query == i % 15);  // HSNet: idx %= len(img_metadata)
    CHECK(e.class_id == s[e.query].class_id);
    REQUIRE(e.supports.size() == 1);
    CHECK(s[e.supports[0]].class_id == e.class_id);
    CHECK(s[e.supports[0]].name != s[e.query].name);
    // Independent of the others: episode i alone is the same.
    CHECK(make_episode(*ds, i, 42, 1) == e);
  }
  // Order-independence: generating from the end gives the same list.
  std::vector<Episode> rev;
  for (std::size_t i = 40; i-- > 0;) rev.insert(rev.begin(), make_episode(*ds, i, 42, 1));
  CHECK(rev == a);
}

TEST_CASE("episodes: hsnet vs distinct support sampling", "[data][episodes]") {
  const auto ds = synthetic(2, 5, 4);  // 4 other images per class, 4 shots
  int with_duplicates = 0;
  for (const auto& e : make_episodes(*ds, 200, 9, 4, SupportSampling::hsnet)) {
    std::set<std::size_t> u(e.supports.begin(), e.supports.end());
    with_duplicates += u.size() < 4;
    CHECK(u.count(e.query) == 0);
  }
  // Independent draws repeat an image in 1 - 4!/4^4 = 90.6 % of episodes.
  CHECK(with_duplicates > 150);
  for (const auto& e : make_episodes(*ds, 200, 9, 4, SupportSampling::distinct)) {
    std::set<std::size_t> u(e.supports.begin(), e.supports.end());
    CHECK(u.size() == 4);
    CHECK(u.count(e.query) == 0);
  }
  CHECK_THROWS_WITH(make_episodes(*ds, 1, 9, 5, SupportSampling::distinct),
                    Catch::Contains("4 image(s) besides the query") && Catch::Contains("5 distinct"));
  CHECK(parse_support_sampling("distinct") == SupportSampling::distinct);
  CHECK_THROWS(parse_support_sampling("random"));
}

TEST_CASE("episodes: a class with a single image fails clearly instead of looping", "[data][episodes][errors]") {
  difss::test::TempDir tmp;
  difss::test::write_jpeg(tmp / "solo/only.jpg", 8, 8);
  cv::imwrite((tmp / "solo/only.png").string(), cv::Mat::ones(8, 8, CV_8UC1));
  DatasetConfig cfg;
  cfg.kind = "folder";
  cfg.root = tmp.path();
  cfg.options["min_images"] = "1";
  const auto ds = open_dataset(cfg);
  CHECK_THROWS_WITH(make_episode(*ds, 0, 1, 1), Catch::Contains("solo") && Catch::Contains("no image other than"));
}

TEST_CASE("episodes: JSON and CSV serialisation", "[data][episodes]") {
  const auto ds = synthetic(3, 4);
  EpisodeOptions o;
  o.count = 10;
  o.seed = 123;
  const auto eps = make_episodes(*ds, o);
  const auto doc = episodes_to_json(*ds, eps, o);
  CHECK(doc["format"] == "difss-episodes");
  CHECK(doc["seed"] == 123);
  CHECK(doc["episodes"][0]["query_name"] == "synthetic/striped-circle_0");
  const auto back = episodes_from_json(*ds, nlohmann::json::parse(doc.dump()));
  CHECK(back == eps);
  auto tampered = doc;
  tampered["episodes"][3]["query_name"] = "synthetic/elsewhere";
  CHECK_THROWS_WITH(episodes_from_json(*ds, tampered), Catch::Contains("episode #3") && Catch::Contains("elsewhere"));
  tampered = doc;
  tampered["episodes"][2]["supports"][0] = 999;
  CHECK_THROWS_WITH(episodes_from_json(*ds, tampered), Catch::Contains("out of range"));
  const std::string csv = episodes_to_csv(*ds, eps);
  CHECK(csv.rfind("index,class_id,query,supports,query_name,support_names\n0,1,0,", 0) == 0);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 11);
}

TEST_CASE("episodes on the FSS-1000 sample follow HSNet's FSS structure", "[data][episodes][shared]") {
  DIFSS_REQUIRE_SHARED("data/fss1000-sample");
  DatasetConfig cfg;
  cfg.kind = "fss1000";
  cfg.root = difss::test::shared_dir() / "data/fss1000-sample";
  cfg.split = "test";
  cfg.shots = 1;
  const auto ds = open_dataset(cfg);
  const auto eps = make_episodes(*ds, EpisodeOptions{});  // default count = number of images
  REQUIRE(eps.size() == 5);
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(eps[i].query == i);
    CHECK(eps[i].supports[0] != i);
  }
}

TEST_CASE("episodes + metrics: a perfect predictor scores 1, an empty one 0 foreground IoU", "[data][episodes]") {
  const auto ds = synthetic(3, 4);
  IoUAccumulator perfect(ds->class_ids()), empty(ds->class_ids());
  for (const auto& e : make_episodes(*ds, 24, 5, 1)) {
    const cv::Mat gt = ds->load_mask(e.query);
    perfect.add(e.class_id, gt, gt);
    empty.add(e.class_id, cv::Mat::zeros(gt.size(), CV_8UC1), gt);
  }
  CHECK(perfect.miou() == 1.0);
  CHECK(perfect.fbiou() == 1.0);
  CHECK(empty.miou() == 0.0);
  // bg IoU of an all-background prediction = bg pixels / all pixels; FB-IoU is half of it.
  double bg = 0, all = 0;
  for (const auto& r : empty.per_class()) {
    bg += static_cast<double>(r.counts.inter[0]);
    all += static_cast<double>(r.counts.uni[0]);
  }
  CHECK(empty.fbiou() == Approx(bg / all / 2));
  CHECK(bg / all > 0.5);
}

TEST_CASE("episodes: query_order = shuffle covers every sample per pass and every class first", "[data][episodes]") {
  DatasetConfig cfg;
  cfg.kind = "synthetic";
  cfg.options = {{"classes", "4"}, {"images_per_class", "5"}, {"query_order", "shuffle"}};
  const auto ds = open_dataset(cfg);
  REQUIRE(ds->episode_protocol() == EpisodeProtocol::shuffled);
  const auto eps = make_episodes(*ds, 50, 7, 1);
  for (std::size_t pass = 0; pass < 2; ++pass) {
    std::set<std::size_t> queries, first_classes;
    for (std::size_t i = 0; i < 20; ++i) queries.insert(eps[20 * pass + i].query);
    CHECK(queries.size() == 20);  // a permutation: every sample once
    for (std::size_t i = 0; i < 4; ++i) first_classes.insert(eps[20 * pass + i].class_id);
    CHECK(first_classes.size() == 4);  // the first 4 queries of a pass cover the 4 classes
  }
  bool moved = false;
  for (std::size_t i = 0; i < 20; ++i) moved |= eps[i].query != eps[20 + i].query || eps[i].query != i;
  CHECK(moved);  // passes are shuffled (not the sorted order, not the same twice)
  for (std::size_t i : {0, 19, 20, 49}) CHECK(make_episode(*ds, i, 7, 1) == eps[i]);  // random access
  CHECK(make_episodes(*ds, 50, 7, 1) == eps);
  CHECK(make_episodes(*ds, 50, 8, 1) != eps);
  for (const auto& e : eps) {
    CHECK(e.class_id == ds->samples()[e.query].class_id);
    CHECK(e.supports[0] != e.query);
  }
  // The case: fewer episodes than images still gives every class an episode.
  std::set<int> visited;
  for (const auto& e : make_episodes(*ds, 4, 123, 1)) visited.insert(e.class_id);
  CHECK(visited.size() == 4);
  CHECK_THAT(ds->coverage_advice(), Catch::Contains("at least 4"));
  cfg.options["query_order"] = "random";
  CHECK_THROWS_WITH(open_dataset(cfg), Catch::Contains("query_order") && Catch::Contains("shuffle"));
}

TEST_CASE("episodes: the advice for classes without episodes fits the reader", "[data][episodes]") {
  const auto syn = synthetic(3, 5);
  CHECK(syn->episode_protocol() == EpisodeProtocol::sequential);  // pinned by the helper, as the demo pins it
  CHECK_THAT(syn->coverage_advice(), Catch::Contains("episodes to 15") && Catch::Contains("query_order"));
  difss::test::TempDir tmp;
  for (const char* c : {"a", "b"})
    for (const char* s : {"1", "2"}) {
      difss::test::write_jpeg(tmp / c / (std::string(s) + ".jpg"), 8, 8);
      cv::imwrite((tmp / c / (std::string(s) + ".png")).string(), cv::Mat::ones(8, 8, CV_8UC1));
    }
  DatasetConfig cfg;
  cfg.kind = "folder";
  cfg.root = tmp.path();
  // The default of every non-protocol reader is the shuffled order: any count >= classes covers all.
  CHECK(open_dataset(cfg)->episode_protocol() == EpisodeProtocol::shuffled);
  CHECK_THAT(open_dataset(cfg)->coverage_advice(), Catch::Contains("at least 2"));
  cfg.options["query_order"] = "sequential";
  const auto folder = open_dataset(cfg);
  CHECK_THAT(folder->coverage_advice(), Catch::Contains("episodes to 4") && Catch::Contains("query_order = \"shuffle\"") &&
                                            !Catch::Contains("images_per_class"));
  CHECK(parse_support_sampling("cross_group") == SupportSampling::cross_group);
  CHECK(std::string(to_string(SupportSampling::cross_group_distinct)) == "cross_group_distinct");
}
