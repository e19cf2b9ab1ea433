// The TorchScript adapter: a tiny traced module (tests/data/README.md) against its Python output,
// the 1-shot vote, and errors.
#include "catch_torch.hpp"
#include "plugin_harness.hpp"
#include "shared_data.hpp"
#include "test_inputs.hpp"

#include <difss/weights/load.hpp>

#include "../src/torchscript_segmenter.hpp"

using namespace difss;
using plugins::TorchScriptSegmenter;

namespace {
std::string data(const std::string& f) {
  return (test::source_dir() / "plugins/segmenter/torchscript/tests/data" / f).string();
}
difss_status status_of(const std::function<void()>& f, std::string* msg) {
  try {
    f();
  } catch (const sdk::Error& e) {
    *msg = e.what();
    return e.status();
  }
  return DIFSS_OK;
}
}  // namespace

TEST_CASE("TorchScript adapter reproduces the traced module's Python output", "[torchscript]") {
  auto seg = test::make_plugin<TorchScriptSegmenter>(
      {{"model", data("tiny_proto_k2_s64.pt")}, {"image_size", int64_t(64)}, {"shots", int64_t(2)}});
  test::SegmentCall call;
  auto out = call.run(*seg, test::test_image(64, 0), {test::test_image(64, 1), test::test_image(64, 2)},
                      {test::ellipse_mask(64, 1), test::ellipse_mask(64, 2)});
  at::Tensor prob = test::as_at(out.prob), mask = test::as_at(out.mask);
  at::Tensor ref = weights::load_safetensors(data("tiny_proto_k2_s64_ref.safetensors")).at("prob");
  REQUIRE(prob.sizes() == ref.sizes());
  const double diff = (prob - ref).abs().max().item<double>();
  WARN("TorchScript adapter vs Python: max |prob diff| " << diff);
  CHECK(diff < 1e-5);
  CHECK(mask.eq((ref >= 0.5).to(at::kByte)).to(at::kFloat).mean().item<double>() > 0.999);
  // Another query size: the output follows the query.
  auto out2 = call.run(*seg, test::test_image(90, 0).narrow(1, 0, 50), {test::test_image(64, 1), test::test_image(80, 2)},
                       {test::ellipse_mask(64, 1), test::ellipse_mask(80, 2)});
  CHECK(test::as_at(out2.prob).sizes() == at::IntArrayRef({90, 50}));
}

TEST_CASE("TorchScript adapter: letterbox resizing (BAM's evaluation Resize)", "[torchscript]") {
  auto lb = test::make_plugin<TorchScriptSegmenter>({{"model", data("tiny_proto_k2_s64.pt")}, {"image_size", int64_t(64)},
                                                     {"shots", int64_t(2)}, {"resize", std::string("letterbox")}});
  test::SegmentCall call;
  // Square inputs of size S: no padding, so exactly the stretch result (= the Python reference).
  auto sq = call.run(*lb, test::test_image(64, 0), {test::test_image(64, 1), test::test_image(64, 2)},
                     {test::ellipse_mask(64, 1), test::ellipse_mask(64, 2)});
  at::Tensor ref = weights::load_safetensors(data("tiny_proto_k2_s64_ref.safetensors")).at("prob");
  CHECK((test::as_at(sq.prob) - ref).abs().max().item<double>() < 1e-5);
  // A wide query (40 x 100 -> 24 x 64 on the canvas, rounded down to multiples of 8): output at
  // the query's size; the padded support rows are ignored (not foreground).
  auto wide = call.run(*lb, test::test_image(100, 0).narrow(0, 0, 40), {test::test_image(64, 1), test::test_image(80, 2)},
                       {test::ellipse_mask(64, 1), test::ellipse_mask(80, 2)});
  at::Tensor p = test::as_at(wide.prob);
  CHECK(p.sizes() == at::IntArrayRef({40, 100}));
  CHECK(test::as_at(wide.mask).eq((p >= 0.5).to(at::kByte)).all().item<bool>());
}

TEST_CASE("TorchScript adapter: shot count checks and errors", "[torchscript]") {
  auto seg = test::make_plugin<TorchScriptSegmenter>(
      {{"model", data("tiny_proto_k2_s64.pt")}, {"image_size", int64_t(64)}, {"shots", int64_t(2)}});
  test::SegmentCall call;
  std::string msg;
  CHECK(status_of([&] { call.run(*seg, test::test_image(64, 0), {test::test_image(64, 1)}, {test::ellipse_mask(64, 1)}); }, &msg) ==
        DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(msg.find("shots = 2") != std::string::npos);
  // Declared 1-shot: the module (traced for K = 2) sees [1, 1, ...] supports; TorchScript traces
  // of this module happen to accept any K, so each shot runs alone and the shots vote.
  auto one = test::make_plugin<TorchScriptSegmenter>(
      {{"model", data("tiny_proto_k2_s64.pt")}, {"image_size", int64_t(64)}, {"shots", int64_t(1)}});
  auto v = call.run(*one, test::test_image(64, 0), {test::test_image(64, 1), test::test_image(64, 2), test::test_image(64, 3)},
                    {test::ellipse_mask(64, 1), test::ellipse_mask(64, 2), test::ellipse_mask(64, 3)});
  at::Tensor p = test::as_at(v.prob);
  // Vote fractions of 3 shots: multiples of 1/max_vote.
  at::Tensor scaled = p * 3;
  CHECK(((scaled - scaled.round()).abs().max().item<float>() < 1e-5 ||
         ((p * 2) - (p * 2).round()).abs().max().item<float>() < 1e-5));
  CHECK(test::as_at(v.mask).eq((p >= 0.5).to(at::kByte)).all().item<bool>());

  CHECK(status_of([] { test::make_plugin<TorchScriptSegmenter>({}); }, &msg) == DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(status_of([] { test::make_plugin<TorchScriptSegmenter>({{"model", std::string("/nonexistent.pt")}}); }, &msg) ==
        DIFSS_ERR_NOT_FOUND);
  // Not a TorchScript archive: the reference .safetensors file.
  CHECK(status_of([] { test::make_plugin<TorchScriptSegmenter>({{"model", data("tiny_proto_k2_s64_ref.safetensors")}}); }, &msg) ==
        DIFSS_ERR_IO);
  CHECK(msg.find("tiny_proto_k2_s64_ref.safetensors") != std::string::npos);
  CHECK(status_of([] { test::make_plugin<TorchScriptSegmenter>({{"model", data("tiny_proto_k2_s64.pt")}, {"mean", std::string("1,2")}}); }, &msg) ==
        DIFSS_ERR_INVALID_ARGUMENT);
  // Wrong output contract: the module gives 2 channels, "prob1" expects 1.
  auto wrong = test::make_plugin<TorchScriptSegmenter>(
      {{"model", data("tiny_proto_k2_s64.pt")}, {"image_size", int64_t(64)}, {"shots", int64_t(2)}, {"output", std::string("prob1")}});
  CHECK(status_of([&] { call.run(*wrong, test::test_image(64, 0), {test::test_image(64, 1), test::test_image(64, 2)},
                                 {test::ellipse_mask(64, 1), test::ellipse_mask(64, 2)}); }, &msg) == DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(msg.find("[1, 2, 32, 32]") != std::string::npos);
}
