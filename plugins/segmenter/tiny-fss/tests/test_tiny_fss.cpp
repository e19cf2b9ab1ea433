// The committed tiny HSNet: it loads, reproduces its manifest's evaluation, beats a trivial
// baseline on novel classes, and fuses K shots as HSNet does.
#include "catch_torch.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <difss/data/dataset.hpp>
#include <difss/data/episodes.hpp>
#include <difss/data/metrics.hpp>
#include <difss/tiny/fss.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

using namespace difss;

namespace {

tiny::TinyFss& model() {
  static tiny::TinyFss m = tiny::load_tiny_fss(TINY_FSS_MODEL);
  return m;
}

nlohmann::json manifest() {
  std::ifstream in(TINY_FSS_MANIFEST);
  return nlohmann::json::parse(in);
}

at::Tensor t3(const cv::Mat& m) { return at::from_blob(m.data, {m.rows, m.cols, 3}, at::kByte).clone(); }
at::Tensor t2(const cv::Mat& m) { return at::from_blob(m.data, {m.rows, m.cols}, at::kByte).clone(); }
cv::Mat mat(const at::Tensor& t) { return cv::Mat(int(t.size(0)), int(t.size(1)), CV_8UC1, t.data_ptr()).clone(); }

}  // namespace

TEST_CASE("tiny-fss: the committed checkpoint loads with its configuration", "[tiny][segmenter]") {
  CHECK(model().config.image_size == 64);
  CHECK(model().config.width == 16);
}

TEST_CASE("tiny-fss: reproduces the manifest's novel-class evaluation and beats a baseline", "[tiny][segmenter][slow]") {
  // The manifest's protocol: synthetic fold 0 val (novel classes), episodes / 5 images per class, 1-shot,
  // episode seed 0. Baseline: predict the support's own mask (a position/size prior).
  const auto m = manifest();
  const int episodes = m["evaluation"]["episodes"];
  data::DatasetConfig dc;
  dc.kind = "synthetic";
  dc.split = "val";
  dc.fold = m["data"]["fold"];
  dc.options["images_per_class"] = std::to_string((episodes + 4) / 5);  // as the trainer: every class
  dc.options["query_order"] = "sequential";                               // in list order, as the trainer
  const auto ds = data::open_dataset(dc);
  data::IoUAccumulator acc(ds->class_ids()), base(ds->class_ids());
  for (const auto& ep : data::make_episodes(*ds, size_t(episodes), 0, 1)) {
    const cv::Mat q = ds->load_image(ep.query), gt = ds->load_mask(ep.query, ep.class_id);
    const cv::Mat s = ds->load_image(ep.supports[0]), sm = ds->load_mask(ep.supports[0], ep.class_id);
    const auto seg = model().engine->segment(t3(q), {{t3(s), t2(sm)}});
    acc.add(ep.class_id, mat(seg.mask), gt);
    base.add(ep.class_id, sm, gt);
  }
  INFO("mIoU " << acc.miou() << " (manifest " << m["evaluation"]["novel_miou"] << "), FB-IoU " << acc.fbiou()
               << ", support-mask baseline " << base.miou());
  CHECK(acc.miou() == Approx(m["evaluation"]["novel_miou"].get<double>()).margin(0.005));
  CHECK(acc.fbiou() == Approx(m["evaluation"]["novel_fbiou"].get<double>()).margin(0.005));
  CHECK(acc.miou() > base.miou() + 0.15);
}

TEST_CASE("tiny-fss: K shots vote as HSNet's predict_mask_nshot", "[tiny][segmenter]") {
  data::DatasetConfig dc;
  dc.kind = "synthetic";
  const auto ds = data::open_dataset(dc);
  const cv::Mat q = ds->load_image(0), s = ds->load_image(1), sm = ds->load_mask(1);
  const auto one = model().engine->segment(t3(q), {{t3(s), t2(sm)}});
  // The same support five times: five identical votes = the 1-shot mask.
  std::vector<fss::Shot> five(5, fss::Shot{t3(s), t2(sm)});
  const auto same = model().engine->segment(t3(q), five);
  CHECK(at::equal(one.mask, same.mask));
  // An empty support mask among the shots cannot turn background into foreground.
  std::vector<fss::Shot> mixed{{t3(s), t2(sm)}, {t3(s), at::zeros_like(t2(sm))}};
  const auto m2 = model().engine->segment(t3(q), mixed);
  CHECK(m2.mask.sum().item<int64_t>() <= one.mask.sum().item<int64_t>());
  CHECK(m2.prob.sizes() == at::IntArrayRef({64, 64}));
}

TEST_CASE("tiny-fss: weighted shots (aux_weight) move the vote toward the heavier shots", "[tiny][segmenter]") {
  data::DatasetConfig dc;
  dc.kind = "synthetic";
  const auto ds = data::open_dataset(dc);
  const cv::Mat q = ds->load_image(0), s = ds->load_image(1), sm = ds->load_mask(1);
  const auto real = model().engine->segment(t3(q), {{t3(s), t2(sm)}});
  // One real support and two "auxiliary" shots with empty masks (they vote background everywhere).
  const at::Tensor empty = at::zeros_like(t2(sm));
  auto shots = [&](double w) {
    return std::vector<fss::Shot>{{t3(s), t2(sm), 1.0}, {t3(s), empty, w}, {t3(s), empty, w}};
  };
  const auto equal = model().engine->segment(t3(q), shots(1.0));
  std::vector<fss::Shot> unweighted{{t3(s), t2(sm)}, {t3(s), empty}, {t3(s), empty}};
  CHECK(at::equal(equal.mask, model().engine->segment(t3(q), unweighted).mask));  // weight 1 = HSNet's vote
  // Weights 0.2: the two together (0.4) stay below half of the real support's vote, so the
  // result is the real support's mask whatever they say (the vote's maximum is 1..1.4).
  REQUIRE(real.mask.sum().item<int64_t>() > 0);
  CHECK(at::equal(model().engine->segment(t3(q), shots(0.2)).mask, real.mask));
  CHECK_THROWS(fss::predict_from_logits({at::zeros({1, 2, 4, 4}), at::zeros({1, 2, 4, 4})}, {4, 4}, {1.0}));
}

TEST_CASE("tiny-fss: unreadable checkpoints are errors naming the file", "[tiny][segmenter]") {
  CHECK_THROWS_WITH(tiny::load_tiny_fss("/nonexistent/f.safetensors"), Catch::Contains("/nonexistent/f.safetensors"));
  CHECK_THROWS_WITH(tiny::TinyFssConfig::from_json("{\"width\": 0}"), Catch::Contains("width"));
}
