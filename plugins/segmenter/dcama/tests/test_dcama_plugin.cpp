// The DCAMA plugin class: parameters, checkpoint loading by name through a file, outputs at the
// query's size or the model's input size, errors that name what is wrong.
#include "catch_torch.hpp"
#include "plugin_harness.hpp"
#include "test_inputs.hpp"

#include <difss/fss/dcama.hpp>
#include <difss/fss/dcama_engine.hpp>
#include <difss/fss/image_prep.hpp>
#include <difss/weights/save.hpp>

#include <c10/core/InferenceMode.h>

#include <filesystem>

#include "../src/dcama_segmenter.hpp"

namespace fs = std::filesystem;
using namespace difss;
using plugins::DCAMASegmenter;
using test::status_of;

TEST_CASE("DCAMA plugin: outputs at the query's size, the input size or an explicit size", "[dcama][plugin][slow]") {
  auto seg = test::make_plugin<DCAMASegmenter>({{"test_weights", true}, {"image_size", int64_t(96)}});
  at::Tensor q = test::test_image(120, 0).narrow(1, 0, 90);  // 120 x 90, not square
  std::vector<at::Tensor> imgs{test::test_image(100, 1), test::test_image(80, 2)};
  std::vector<at::Tensor> masks{test::ellipse_mask(100, 1), test::ellipse_mask(80, 2)};
  masks[1][0][0] = 255;  // ignore label: background for supports
  test::SegmentCall call;
  for (size_t K : {size_t(1), size_t(2)}) {
    auto out = call.run(*seg, q, {imgs.begin(), imgs.begin() + long(K)}, {masks.begin(), masks.begin() + long(K)});
    at::Tensor prob = test::as_at(out.prob), mask = test::as_at(out.mask);
    CHECK(prob.sizes() == at::IntArrayRef({120, 90}));
    CHECK(mask.sizes() == at::IntArrayRef({120, 90}));
    CHECK(prob.scalar_type() == at::kFloat);
    CHECK(mask.scalar_type() == at::kByte);
    CHECK(prob.min().item<float>() >= 0.0f);
    CHECK(prob.max().item<float>() <= 1.0f);
    CHECK(mask.le(1).all().item<bool>());
  }
  auto at_input = call.run(*seg, q, imgs, masks, DIFSS_OUTPUT_MODEL_INPUT);
  CHECK(test::as_at(at_input.prob).sizes() == at::IntArrayRef({96, 96}));
  auto explicit_size = call.run(*seg, q, imgs, masks, DIFSS_OUTPUT_EXPLICIT, 40, 70);
  CHECK(test::as_at(explicit_size.mask).sizes() == at::IntArrayRef({40, 70}));
}

TEST_CASE("DCAMA plugin: an official-layout checkpoint file loads by name and gives the same output",
          "[dcama][plugin][slow]") {
  // Deterministic weights written as the official DDP state dict ("module." prefix; classifier
  // head, num_batches_tracked and the positional-encoding buffers included, keys in another order).
  fss::DCAMA net(fss::make_dcama_features("resnet50"));
  fss::deterministic_init(net.named_tensors());
  weights::StateDict sd("official");
  auto all = net.named_tensors();
  for (auto it = all.rbegin(); it != all.rend(); ++it) sd.insert("module." + it->name, *it->tensor);
  sd.insert("module.feature_extractor.fc.weight", at::zeros({1000, 2048}));
  sd.insert("module.feature_extractor.fc.bias", at::zeros({1000}));
  sd.insert("module.feature_extractor.bn1.num_batches_tracked", at::zeros({}, at::kLong));
  sd.insert("module.model.pe.0.pe", at::zeros({1, 10000, 512}));
  const fs::path path = fs::temp_directory_path() / "difss_test_dcama_ckpt.safetensors";
  weights::save_safetensors(path, sd);

  std::unique_ptr<fss::DCAMAEngine> engine;
  {
    fss::DCAMAConfig c;
    c.checkpoint = path.string();
    c.image_size = 96;
    engine = fss::make_dcama_engine(c);
  }
  REQUIRE(engine->load_reports.size() == 1);
  CHECK(engine->load_reports[0].ok());
  CHECK(engine->load_reports[0].bound.size() == all.size());
  CHECK(engine->load_reports[0].ignored.size() == 4);
  auto a = test::make_plugin<DCAMASegmenter>({{"checkpoint", path.string()}, {"image_size", int64_t(96)}});
  auto b = test::make_plugin<DCAMASegmenter>({{"test_weights", true}, {"image_size", int64_t(96)}});
  fs::remove(path);
  at::Tensor q = test::test_image(96, 0);
  test::SegmentCall call;
  auto oa = call.run(*a, q, {test::test_image(96, 1)}, {test::ellipse_mask(96, 1)});
  auto ob = call.run(*b, q, {test::test_image(96, 1)}, {test::ellipse_mask(96, 1)});
  CHECK(at::equal(test::as_at(oa.prob), test::as_at(ob.prob)));
}

TEST_CASE("DCAMA plugin: the engine's K-shot batch equals the model's forward", "[dcama][plugin]") {
  c10::InferenceMode guard;
  fss::DCAMAConfig c;
  c.test_weights = true;
  c.image_size = 64;
  auto engine = fss::make_dcama_engine(c);
  const int64_t S = 64;
  std::vector<fss::Shot> shots{{test::test_image(S, 1), test::ellipse_mask(S, 1)}, {test::test_image(S, 2), test::ellipse_mask(S, 2)}};
  fss::Segmentation r = engine->segment_at(test::test_image(S, 0), shots, S, S);
  at::Tensor q = fss::prepare_image(test::test_image(S, 0), S, S);
  at::Tensor sup = at::cat({fss::prepare_image(shots[0].image, S, S), fss::prepare_image(shots[1].image, S, S)}).unsqueeze(0);
  at::Tensor msk = at::cat({fss::prepare_mask(shots[0].mask, S, S), fss::prepare_mask(shots[1].mask, S, S)}).unsqueeze(0);
  fss::DCAMAPrediction p = fss::dcama_predict(engine->net().forward(q, sup, msk), {S, S});
  CHECK((r.prob - p.prob[0]).abs().max().item<double>() <= 1e-4);
}

TEST_CASE("DCAMA plugin: bad parameters and inputs are refused with a status and a message", "[dcama][plugin]") {
  std::string msg;
  CHECK(status_of([] { test::make_plugin<DCAMASegmenter>({}); }, &msg) == DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(msg.find("checkpoint") != std::string::npos);
  CHECK(status_of([] { test::make_plugin<DCAMASegmenter>({{"checkpoint", std::string("/nonexistent/x.pt")}}); }, &msg) ==
        DIFSS_ERR_NOT_FOUND);
  CHECK(msg.find("/nonexistent/x.pt") != std::string::npos);
  CHECK(status_of([] { test::make_plugin<DCAMASegmenter>({{"backbone", std::string("vgg16")}}); }) ==
        DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(status_of([&] { test::make_plugin<DCAMASegmenter>({{"test_weights", true}, {"image_size", int64_t(100)}}); },
                  &msg) == DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(msg.find("image_size") != std::string::npos);
  CHECK(status_of([&] {
          test::make_plugin<DCAMASegmenter>(
              {{"test_weights", true}, {"backbone", std::string("swin-b")}, {"image_size", int64_t(416)}});
        }, &msg) == DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(msg.find("do not tile") != std::string::npos);
  // A checkpoint that is not a DCAMA state dict: I/O error naming the file and the keys.
  const fs::path path = fs::temp_directory_path() / "difss_test_dcama_wrong.safetensors";
  weights::StateDict sd("wrong");
  sd.insert("module.hpn_learner.decoder1.0.weight", at::zeros({2, 2}));
  weights::save_safetensors(path, sd);
  CHECK(status_of([&] { test::make_plugin<DCAMASegmenter>({{"checkpoint", path.string()}}); }, &msg) == DIFSS_ERR_IO);
  fs::remove(path);
  CHECK(msg.find("difss_test_dcama_wrong.safetensors") != std::string::npos);
  CHECK(msg.find("missing") != std::string::npos);
  CHECK(msg.find("hpn_learner.decoder1.0.weight") != std::string::npos);  // unused

  auto seg = test::make_plugin<DCAMASegmenter>({{"test_weights", true}, {"image_size", int64_t(64)}});
  test::SegmentCall call;
  CHECK(status_of([&] { call.run(*seg, test::test_image(64, 0), {test::test_image(64, 1)}, {test::ellipse_mask(60, 1)}); }, &msg) ==
        DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(msg.find("support_masks[0]") != std::string::npos);
}
