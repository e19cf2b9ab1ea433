// difss's mIoU / FB-IoU against HSNet's own Evaluator + AverageMeter and BAM's
// intersectionAndUnionGPU + test.py aggregation, run on the same masks
// (tests/data/hsnet_metrics/README.md, tests/data/bam_metrics/README.md).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "difss/data/metrics.hpp"
#include "shared_data.hpp"

using namespace difss::data;
using nlohmann::json;

namespace {

// '0' / '1' / 'x' (= 255) per pixel, row-major.
cv::Mat decode(const json& e, const char* key) {
  const int h = e.at("height"), w = e.at("width");
  const std::string s = e.at(key);
  REQUIRE(s.size() == static_cast<std::size_t>(h * w));
  cv::Mat m(h, w, CV_8UC1);
  for (int k = 0; k < h * w; ++k) m.ptr<std::uint8_t>()[k] = s[k] == 'x' ? 255 : static_cast<std::uint8_t>(s[k] - '0');
  return m;
}

}  // namespace

TEST_CASE("mIoU and FB-IoU equal HSNet's Evaluator and AverageMeter on stored predictions", "[data][metrics]") {
  std::ifstream in(difss::test::source_dir() / "core/data/tests/data/hsnet_metrics/average_meter.json");
  REQUIRE(in);
  const json ref = json::parse(in);
  REQUIRE(ref.at("sets").size() == 3);
  for (const auto& set : ref.at("sets")) {
    INFO(set.at("benchmark").get<std::string>());
    IoUAccumulator acc(set.at("class_ids").get<std::vector<int>>());
    for (const auto& e : set.at("episodes")) {
      const IoUCounts c = acc.add(e.at("class_id"), decode(e, "pred"), decode(e, "gt"));
      // Evaluator.classify_prediction's per-episode areas (background, foreground).
      CHECK(c.inter[0] == e.at("inter")[0].get<std::uint64_t>());
      CHECK(c.inter[1] == e.at("inter")[1].get<std::uint64_t>());
      CHECK(c.uni[0] == e.at("union")[0].get<std::uint64_t>());
      CHECK(c.uni[1] == e.at("union")[1].get<std::uint64_t>());
    }
    // AverageMeter's buffers for the classes of interest, then its mIoU and FB-IoU (x100 there).
    const auto classes = acc.per_class();
    const auto& ids = set.at("class_ids");
    for (std::size_t k = 0; k < ids.size(); ++k) {
      auto it = std::find_if(classes.begin(), classes.end(), [&](const auto& r) { return r.class_id == ids[k].get<int>(); });
      REQUIRE(it != classes.end());
      for (int b = 0; b < 2; ++b) {
        CHECK(it->counts.inter[b] == set.at("per_class_inter")[b][k].get<std::uint64_t>());
        CHECK(it->counts.uni[b] == set.at("per_class_union")[b][k].get<std::uint64_t>());
      }
    }
    CHECK(std::abs(acc.miou() - set.at("miou").get<double>() / 100.0) <= 1e-6);
    CHECK(std::abs(acc.fbiou() - set.at("fbiou").get<double>() / 100.0) <= 1e-6);
  }
}

TEST_CASE("mIoU, FB-IoU and pIoU equal BAM's intersectionAndUnionGPU and test.py on stored predictions", "[data][metrics]") {
  std::ifstream in(difss::test::source_dir() / "core/data/tests/data/bam_metrics/intersection_and_union.json");
  REQUIRE(in);
  const json ref = json::parse(in);
  IoUAccumulator acc(ref.at("class_ids").get<std::vector<int>>());
  for (const auto& e : ref.at("episodes")) {
    const IoUCounts c = acc.add(e.at("class_id"), decode(e, "pred"), decode(e, "gt"));
    for (int b = 0; b < 2; ++b) {
      CHECK(c.inter[b] == e.at("inter")[b].get<std::uint64_t>());
      CHECK(c.uni[b] == e.at("union")[b].get<std::uint64_t>());
    }
  }
  // BAM's mIoU is class_miou (HSNet's mIoU on the same counts), its FB-IoU HSNet's FB-IoU, its pIoU
  // the foreground IoU of all episodes' counts.
  CHECK(std::abs(acc.miou() - ref.at("miou").get<double>()) <= 1e-6);
  CHECK(std::abs(acc.fbiou() - ref.at("fbiou").get<double>()) <= 1e-6);
  std::uint64_t inter = 0, uni = 0;
  for (const auto& r : acc.per_class()) inter += r.counts.inter[1], uni += r.counts.uni[1];
  CHECK(std::abs(double(inter) / double(uni) - ref.at("piou").get<double>()) <= 1e-6);
}
