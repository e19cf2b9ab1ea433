// The BAM plugin class: parameters, output sizes, K = shots, errors with statuses.
#include "catch_torch.hpp"
#include "kshot_check.hpp"
#include "plugin_harness.hpp"
#include "shared_data.hpp"
#include "test_inputs.hpp"

#include <filesystem>

#include "../src/bam_segmenter.hpp"

namespace fs = std::filesystem;
using namespace difss;
using plugins::BAMSegmenter;

using test::status_of;

TEST_CASE("BAM plugin: outputs at the query's size, the model input or an explicit size", "[bam][plugin][slow]") {
  auto seg = test::make_plugin<BAMSegmenter>({{"test_weights", true}, {"image_size", int64_t(97)}});
  at::Tensor q = test::test_image(120, 0).narrow(1, 0, 90);  // 120 x 90, not square
  std::vector<at::Tensor> imgs{test::test_image(100, 1)}, masks{test::ellipse_mask(100, 1)};
  masks[0][0][0] = 255;
  test::SegmentCall call;
  auto out = call.run(*seg, q, imgs, masks);
  at::Tensor prob = test::as_at(out.prob), mask = test::as_at(out.mask);
  test::check_two_class_output(prob, mask, 120, 90);
  CHECK(prob.scalar_type() == at::kFloat);
  CHECK(mask.scalar_type() == at::kByte);
  CHECK(mask.le(1).all().item<bool>());
  auto at_input = call.run(*seg, q, imgs, masks, DIFSS_OUTPUT_MODEL_INPUT);
  CHECK(test::as_at(at_input.prob).sizes() == at::IntArrayRef({97, 97}));
  auto explicit_size = call.run(*seg, q, imgs, masks, DIFSS_OUTPUT_EXPLICIT, 60, 45);
  CHECK(test::as_at(explicit_size.prob).sizes() == at::IntArrayRef({60, 45}));
}

TEST_CASE("BAM plugin: a 5-shot model takes exactly 5 supports (1 real + 4 auxiliary)", "[bam][plugin][slow]") {
  auto seg = test::make_plugin<BAMSegmenter>({{"test_weights", true}, {"image_size", int64_t(65)}, {"shots", int64_t(5)}});
  test::check_takes_exactly_five(*seg);
}

TEST_CASE("BAM plugin: bad parameters are refused with a status and a message", "[bam][plugin]") {
  std::string msg;
  CHECK(status_of([] { test::make_plugin<BAMSegmenter>({}); }, &msg) == DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(msg.find("checkpoint") != std::string::npos);
  CHECK(status_of([] { test::make_plugin<BAMSegmenter>({{"checkpoint", std::string("/nonexistent/bam.pth")}}); }, &msg) ==
        DIFSS_ERR_NOT_FOUND);
  CHECK(msg.find("/nonexistent/bam.pth") != std::string::npos);
  CHECK(status_of([] { test::make_plugin<BAMSegmenter>({{"test_weights", true}, {"image_size", int64_t(100)}}); }, &msg) ==
        DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(msg.find("8k + 1") != std::string::npos);
  CHECK(status_of([] { test::make_plugin<BAMSegmenter>({{"test_weights", true}, {"precision", std::string("fp16")}}); }) ==
        DIFSS_ERR_UNSUPPORTED);
  // A checkpoint that does not hold the model (here: only the merges and kshot_rw of a 5-shot
  // model) is refused naming the file.
  const std::string part = (test::source_dir() / "plugins/segmenter/bam/tests/data/bam_format_ckpt_5shot.pth").string();
  CHECK(status_of([&] { test::make_plugin<BAMSegmenter>({{"checkpoint", part}, {"shots", int64_t(5)}}); }, &msg) ==
        DIFSS_ERR_IO);
  CHECK(msg.find("bam_format_ckpt_5shot.pth") != std::string::npos);
  CHECK(msg.find("missing") != std::string::npos);
}
