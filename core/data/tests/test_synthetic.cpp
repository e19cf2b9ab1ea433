// The `synthetic` dataset: 20 object families, PASCAL-5i-like folds, determinism, exact masks.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "data_test_util.hpp"
#include "difss/data/dataset.hpp"
#include "difss/data/synthetic.hpp"

using namespace difss::data;
using difss::test::count_value;

namespace {
std::unique_ptr<Dataset> open_synth(const std::string& split, int fold, int per_class = 4,
                                    std::map<std::string, std::string> extra = {}) {
  DatasetConfig cfg;
  cfg.kind = "synthetic";
  cfg.split = split;
  cfg.fold = fold;
  cfg.options = {{"images_per_class", std::to_string(per_class)}};
  for (auto& [k, v] : extra) cfg.options[k] = v;
  return open_dataset(cfg);
}
}  // namespace

TEST_CASE("synthetic: 20 distinct families, 5 shapes x 4 patterns, names as documented", "[data][synthetic]") {
  const auto& cls = synthetic_classes();
  REQUIRE(cls.size() == 20);
  std::set<std::string> names;
  std::set<std::pair<int, int>> families;
  std::map<int, int> per_palette;
  for (size_t i = 0; i < cls.size(); ++i) {
    CHECK(cls[i].id == int(i) + 1);
    names.insert(cls[i].name);
    families.insert({cls[i].shape, cls[i].pattern});
    ++per_palette[cls[i].palette];
  }
  CHECK(names.size() == 20);
  CHECK(families.size() == 20);  // every (shape, pattern) exactly once
  CHECK(per_palette.size() == 10);
  for (auto& [p, n] : per_palette) CHECK(n == 2);  // colour alone never identifies a class
  CHECK(cls[0].name == "striped-circle");
  CHECK(cls[19].name == "gradient-cross");
  const auto all = open_synth("all", 0);
  CHECK(all->classes().size() == 20);
  CHECK(all->class_set() == "synthetic");
}

TEST_CASE("synthetic: base and novel classes are disjoint and cover all 20 in every fold", "[data][synthetic]") {
  for (int fold = 0; fold < 4; ++fold) {
    const auto trn = open_synth("trn", fold), val = open_synth("val", fold), test = open_synth("test", fold);
    std::set<int> base, novel;
    for (const auto& c : trn->classes()) base.insert(c.id);
    for (const auto& c : val->classes()) novel.insert(c.id);
    CHECK(base.size() == 15);
    REQUIRE(novel.size() == 5);
    CHECK(*novel.begin() == 5 * fold + 1);  // PASCAL-5i: fold k novel = 5k+1 .. 5k+5
    CHECK(*novel.rbegin() == 5 * fold + 5);
    std::set<int> shapes;
    for (int id : novel) {
      CHECK(base.count(id) == 0);
      shapes.insert(synthetic_classes()[size_t(id - 1)].shape);
    }
    CHECK(shapes.size() == 5);  // each fold's novel classes show every shape
    CHECK(base.size() + novel.size() == 20);
    CHECK(test->classes().size() == 5);
    for (const auto& s : trn->samples()) CHECK(novel.count(s.class_id) == 0);
  }
  CHECK_THROWS_WITH(open_synth("val", 4), Catch::Contains("fold"));
  CHECK_THROWS_WITH(open_synth("train", 0), Catch::Contains("split"));
}

TEST_CASE("synthetic: deterministic, seeded, training and evaluation images differ", "[data][synthetic]") {
  const auto a = open_synth("val", 1), b = open_synth("val", 1);
  REQUIRE(a->samples().size() == 20);
  for (size_t i = 0; i < a->samples().size(); ++i) {
    CHECK(cv::norm(a->load_image(i), b->load_image(i), cv::NORM_INF) == 0);
    CHECK(cv::norm(a->load_mask(i), b->load_mask(i), cv::NORM_INF) == 0);
  }
  CHECK(a->samples()[0].name == "synthetic/checkered-circle_0");  // class 6 = fold 1's first novel class
  const auto seeded = open_synth("val", 1, 4, {{"seed", "3"}});
  CHECK(cv::norm(a->load_image(0), seeded->load_image(0), cv::NORM_INF) > 0);
  // The same class and number in a training split is another image.
  const auto all = open_synth("all", 0);
  const size_t k = all->samples_of_class(6).front();
  CHECK(all->samples()[k].name == "synthetic-trn/checkered-circle_0");
  CHECK(cv::norm(all->load_image(k), a->load_image(0), cv::NORM_INF) > 0);
  // Within a class, instances vary (pose, scale, colours).
  CHECK(cv::norm(a->load_mask(0), a->load_mask(1), cv::NORM_L1) > 0);
}

TEST_CASE("synthetic: masks are exact 0/1 rasters of the object's pixels", "[data][synthetic]") {
  const auto ds = open_synth("all", 0, 3, {{"size", "64"}});
  double iou_sum = 0;
  int n = 0;
  for (size_t i = 0; i < ds->samples().size(); ++i) {
    const cv::Mat img = ds->load_image(i), m = ds->load_mask(i);
    REQUIRE(img.size() == cv::Size(64, 64));
    REQUIRE(m.size() == cv::Size(64, 64));
    const auto fg = count_value(m, 1), bg = count_value(m, 0);
    CHECK(fg + bg == 64u * 64u);  // nothing but 0 and 1
    CHECK(fg > 60);               // the smallest family (a star of radius 0.17 * 64) is larger
    // The pixels under the mask carry the family's palette: the colour segmentation finds them.
    const cv::Mat pm = synthetic_palette_mask(img, ds->samples()[i].class_id);
    const double inter = cv::countNonZero((pm == 1) & (m == 1)), uni = cv::countNonZero((pm == 1) | (m == 1));
    iou_sum += inter / uni;
    ++n;
    // Another class's mask of the same image is empty.
    const int other = ds->samples()[i].class_id % 20 + 1;
    CHECK(cv::countNonZero(ds->load_mask(i, other)) == 0);
  }
  CHECK(iou_sum / n > 0.85);  // measured 0.94 (patterns' dark colour and edge noise lose a few pixels)
  // Odd sizes keep the design (scaled).
  const auto small = open_synth("val", 0, 2, {{"size", "48"}, {"distractors", "0"}});
  CHECK(small->load_image(0).size() == cv::Size(48, 48));
  DatasetConfig bad;
  bad.kind = "synthetic";
  bad.options = {{"distractors", "9"}};
  CHECK_THROWS_WITH(open_dataset(bad), Catch::Contains("distractors"));
}

TEST_CASE("synthetic world = varied: shape-family classes, appearance varies within a class", "[data][synthetic]") {
  const auto& cls = synthetic_classes(SyntheticWorld::varied);
  REQUIRE(cls.size() == 20);
  std::set<std::string> names;
  for (const auto& c : cls) names.insert(c.name);
  CHECK(names.size() == 20);
  CHECK(cls[0].name == "circle");  // fold 0's novel classes are the classic world's five shapes
  CHECK(cls[4].name == "cross");
  CHECK(cls[19].name == "horseshoe");
  const auto ds = open_synth("val", 0, 12, {{"world", "varied"}});
  REQUIRE(ds->classes().size() == 5);
  CHECK(ds->classes()[0].name == "circle");
  CHECK(ds->samples()[0].name == "synthetic-varied/circle_0");
  CHECK(open_synth("trn", 0, 2, {{"world", "varied"}})->samples()[0].name == "synthetic-varied-trn/ellipse_0");
  // Exact masks; objects are saturated, so the class-0 colour measure finds them (with distractors).
  double iou = 0, spread = 0;
  int n = 0;
  for (size_t i = 0; i < ds->samples().size(); ++i) {
    const cv::Mat img = ds->load_image(i), m = ds->load_mask(i);
    CHECK(count_value(m, 1) + count_value(m, 0) == 64u * 64u);
    CHECK(count_value(m, 1) > 60);
    const cv::Mat pm = synthetic_palette_mask(img, 0);
    iou += double(cv::countNonZero((pm == 1) & (m == 1))) / cv::countNonZero((pm == 1) | (m == 1));
    ++n;
  }
  CHECK(iou / n > 0.5);
  // Intra-class variety: the mean object colours of one class's images differ much more than in
  // the classic world, where a class has one palette.
  auto colour_spread = [&](const Dataset& d) {
    std::vector<cv::Scalar> means;
    for (size_t i = 0; i < 12; ++i) means.push_back(cv::mean(d.load_image(i), d.load_mask(i)));
    double s = 0;
    for (size_t i = 0; i < means.size(); ++i)
      for (size_t j = i + 1; j < means.size(); ++j) s += cv::norm(means[i] - means[j]);
    return s / (12 * 11 / 2);
  };
  spread = colour_spread(*ds);
  const double classic = colour_spread(*open_synth("val", 0, 12));
  CHECK(spread > 2 * classic);
  // The classic world is the default and unchanged by the option's existence.
  const auto a = open_synth("val", 0, 2), b = open_synth("val", 0, 2, {{"world", "classic"}});
  CHECK(cv::norm(a->load_image(0), b->load_image(0), cv::NORM_INF) == 0);
  CHECK(cv::norm(a->load_image(0), ds->load_image(0), cv::NORM_INF) > 0);
  CHECK_THROWS_WITH(open_synth("val", 0, 2, {{"world", "wild"}}), Catch::Contains("classic, varied"));
}
