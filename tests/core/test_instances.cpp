// Calling plugins through the ABI: outputs checked and freed, failures reported with the
// plugin id and message, the host survives.
#include <difss/core/errors.hpp>
#include <difss/core/instances.hpp>

#include <opencv2/imgproc.hpp>

#include "test_helpers.hpp"

using namespace difss;
using namespace difss::test;

namespace {

ResolvedParams with(const PluginInfo& p, std::vector<std::pair<std::string, sdk::Value>> kv) {
  ResolvedParams r = default_params(*p.descriptor);
  for (auto& [k, v] : kv) r.set(k, v);
  return r;
}

sdk::Value str(const std::string& s) {
  sdk::Value v;
  v.type = DIFSS_PARAM_ENUM;
  v.s = s;
  return v;
}

cv::Mat test_image() {
  cv::Mat img(48, 64, CV_8UC3, cv::Scalar(10, 20, 30));
  cv::rectangle(img, cv::Rect(16, 8, 24, 20), cv::Scalar(200, 50, 40), cv::FILLED);
  return img;
}
cv::Mat test_mask() {
  cv::Mat m(48, 64, CV_8UC1, cv::Scalar(0));
  cv::rectangle(m, cv::Rect(16, 8, 24, 20), cv::Scalar(1), cv::FILLED);
  return m;
}

}  // namespace

TEST_CASE("condition, sampler and segmenter round trip through the ABI") {
  const Registry& reg = test_registry();
  const PluginInfo* c = reg.find("org.difss.test.mask-condition");
  const PluginInfo* s = reg.find("org.difss.test.noise-sampler");
  const PluginInfo* g = reg.find("org.difss.test.color-segmenter");
  REQUIRE((c && s && g));
  ConditionInstance cond(*c, default_params(*c->descriptor));
  cv::Mat control = cond.generate(test_image(), test_mask(), 1, "thing", "test");
  REQUIRE(control.type() == CV_8UC3);
  CHECK(cv::countNonZero(control.reshape(1) == 255) == 24 * 20 * 3);

  SamplerInstance sampler(*s, default_params(*s->descriptor));
  int progress_calls = 0;
  SamplerInstance::Request req;
  req.count = 3;
  req.seed = 11;
  auto imgs = sampler.sample(control, req, [&](const char*, uint64_t, uint64_t) { ++progress_calls; });
  REQUIRE(imgs.size() == 3);
  CHECK(progress_calls == 3);
  CHECK(imgs[0].size() == control.size());
  // Deterministic per (seed, k): the same request gives the same images; images differ by k.
  auto again = sampler.sample(control, req);
  CHECK(cv::norm(imgs[1], again[1], cv::NORM_INF) == 0);
  CHECK(cv::norm(imgs[0], imgs[1], cv::NORM_INF) > 0);

  SegmenterInstance seg(*g, default_params(*g->descriptor));
  auto r = seg.segment(test_image(), {test_image()}, {test_mask()});
  CHECK(r.prob.type() == CV_32FC1);
  CHECK(r.mask.size() == test_image().size());
  CHECK(cv::countNonZero(r.mask) == 24 * 20);
}

TEST_CASE("a plugin that throws is reported with its id and message; the host survives") {
  const PluginInfo* t = test_registry().find("org.difss.test.throwing-segmenter");
  REQUIRE(t);
  cv::Mat img = test_image(), m = test_mask();

  SegmenterInstance std_mode(*t, with(*t, {{"mode", str("std")}}));
  CHECK_THROWS_WITH(std_mode.segment(img, {img}, {m}),
                    Catch::Contains("plugin org.difss.test.throwing-segmenter: segment failed") &&
                        Catch::Contains("simulated failure inside segment()"));

  SegmenterInstance non_std(*t, with(*t, {{"mode", str("non-std")}}));
  CHECK_THROWS_WITH(non_std.segment(img, {img}, {m}), Catch::Contains("unknown exception"));

  SegmenterInstance bad(*t, with(*t, {{"mode", str("bad-output")}}));
  CHECK_THROWS_WITH(bad.segment(img, {img}, {m}), Catch::Contains("broke the output contract"));

  CHECK_THROWS_AS(SegmenterInstance(*t, with(*t, {{"mode", str("in-create")}})), PluginError);
  CHECK_THROWS_WITH(SegmenterInstance(*t, with(*t, {{"mode", str("in-create")}})),
                    Catch::Contains("create failed") && Catch::Contains("weights file is corrupt"));
}

TEST_CASE("bad parameters are rejected by the plugin with a status, not a crash") {
  const PluginInfo* s = test_registry().find("org.difss.test.noise-sampler");
  ResolvedParams r = default_params(*s->descriptor);
  sdk::Value v;
  v.type = DIFSS_PARAM_INT;
  v.i = 100000;  // out of [1, 1000]
  r.set("steps", v);
  CHECK_THROWS_WITH(SamplerInstance(*s, r), Catch::Contains("parameter 'steps' value 100000 is out of range [1, 1000]"));
}

TEST_CASE("a segmenter that predicts at the query's size refuses other explicit sizes") {
  const Registry& reg = test_registry();
  const PluginInfo* g = reg.find("org.difss.test.color-segmenter");
  REQUIRE(g != nullptr);
  SegmenterInstance seg(*g, default_params(*g->descriptor));
  cv::Mat img(20, 30, CV_8UC3, cv::Scalar(200, 10, 10)), m(20, 30, CV_8UC1, cv::Scalar(1));
  // MODEL_INPUT: a segmenter without a fixed input size answers at the query's size.
  auto r = seg.segment(img, {img}, {m}, {}, {}, {DIFSS_OUTPUT_MODEL_INPUT, {}});
  CHECK(r.prob.size() == cv::Size(30, 20));
  CHECK(seg.segment(img, {img}, {m}, {}, {}, {DIFSS_OUTPUT_EXPLICIT, {30, 20}}).mask.size() ==
        cv::Size(30, 20));
  CHECK_THROWS_WITH(seg.segment(img, {img}, {m}, {}, {}, {DIFSS_OUTPUT_EXPLICIT, {64, 64}}),
                    Catch::Contains("unsupported") && Catch::Contains("64x64 was asked for") &&
                        Catch::Contains("query's size only"));
}
