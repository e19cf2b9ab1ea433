// The CyCTR plugin class: parameters, output sizes, K = shots, reproducible runs, errors with statuses.
#include "catch_torch.hpp"
#include "kshot_check.hpp"
#include "plugin_harness.hpp"
#include "shared_data.hpp"
#include "test_inputs.hpp"

#include "../src/cyctr_segmenter.hpp"

using namespace difss;
using plugins::CyCTRSegmenter;
using test::status_of;

TEST_CASE("CyCTR plugin: outputs at the query's size, the model input or an explicit size", "[cyctr][plugin][slow]") {
  auto seg = test::make_plugin<CyCTRSegmenter>({{"test_weights", true}, {"image_size", int64_t(97)}});
  at::Tensor q = test::test_image(120, 0).narrow(1, 0, 90);  // 120 x 90, not square
  std::vector<at::Tensor> imgs{test::test_image(100, 1)}, masks{test::ellipse_mask(100, 1)};
  masks[0].narrow(0, 0, 3).fill_(255);
  test::SegmentCall call;
  auto out = call.run(*seg, q, imgs, masks);
  at::Tensor prob = test::as_at(out.prob), mask = test::as_at(out.mask);
  test::check_two_class_output(prob, mask, 120, 90);
  CHECK(mask.le(1).all().item<bool>());
  // Two calls on the same episode: identical (episode-seeded sampling).
  CHECK(at::equal(test::as_at(call.run(*seg, q, imgs, masks).prob), prob));
  CHECK(test::as_at(call.run(*seg, q, imgs, masks, DIFSS_OUTPUT_MODEL_INPUT).prob).sizes() == at::IntArrayRef({97, 97}));
  CHECK(test::as_at(call.run(*seg, q, imgs, masks, DIFSS_OUTPUT_EXPLICIT, 60, 45).prob).sizes() ==
        at::IntArrayRef({60, 45}));
}

TEST_CASE("CyCTR plugin: K supports as configured, fidelity sampling", "[cyctr][plugin][slow]") {
  auto seg = test::make_plugin<CyCTRSegmenter>({{"test_weights", true},
                                                {"image_size", int64_t(65)},
                                                {"shots", int64_t(5)},
                                                {"sampling", std::string("fidelity")},
                                                {"seed", int64_t(7)}});
  test::check_takes_exactly_five(*seg);
}

TEST_CASE("CyCTR plugin: bad parameters are refused with a status and a message", "[cyctr][plugin]") {
  std::string msg;
  CHECK(status_of([] { test::make_plugin<CyCTRSegmenter>({}); }, &msg) == DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(msg.find("checkpoint") != std::string::npos);
  CHECK(status_of([] { test::make_plugin<CyCTRSegmenter>({{"checkpoint", std::string("/nonexistent/cyctr.pth")}}); },
                  &msg) == DIFSS_ERR_NOT_FOUND);
  CHECK(msg.find("/nonexistent/cyctr.pth") != std::string::npos);
  CHECK(status_of([] { test::make_plugin<CyCTRSegmenter>({{"test_weights", true}, {"image_size", int64_t(100)}}); },
                  &msg) == DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(msg.find("8k + 1") != std::string::npos);
  CHECK(status_of([] { test::make_plugin<CyCTRSegmenter>({{"test_weights", true}, {"precision", std::string("fp16")}}); }) ==
        DIFSS_ERR_UNSUPPORTED);
  // A file that is not a CyCTR checkpoint (the parity data: no model keys) is refused naming it.
  const std::string other = (test::source_dir() / "plugins/segmenter/cyctr/tests/data/msdeform_op.safetensors").string();
  CHECK(status_of([&] { test::make_plugin<CyCTRSegmenter>({{"checkpoint", other}}); }, &msg) == DIFSS_ERR_IO);
  CHECK(msg.find("msdeform_op.safetensors") != std::string::npos);
  CHECK(msg.find("missing") != std::string::npos);
}
