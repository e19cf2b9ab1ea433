// The HDMNet plugin class: output sizes, K = shots, errors with statuses.
#include "catch_torch.hpp"
#include "plugin_harness.hpp"
#include "shared_data.hpp"
#include "test_inputs.hpp"

#include "../src/hdmnet_segmenter.hpp"

using namespace difss;
using plugins::HDMNetSegmenter;
using test::status_of;

TEST_CASE("HDMNet plugin: outputs at the query's size, the model input or an explicit size", "[hdmnet][plugin][slow]") {
  auto seg = test::make_plugin<HDMNetSegmenter>({{"test_weights", true}, {"image_size", int64_t(96)}});
  at::Tensor q = test::test_image(120, 0).narrow(1, 0, 90);
  std::vector<at::Tensor> imgs{test::test_image(100, 1)}, masks{test::ellipse_mask(100, 1)};
  masks[0][0][0] = 255;
  test::SegmentCall call;
  auto out = call.run(*seg, q, imgs, masks);
  at::Tensor prob = test::as_at(out.prob), mask = test::as_at(out.mask);
  test::check_two_class_output(prob, mask, 120, 90);
  CHECK(test::as_at(call.run(*seg, q, imgs, masks, DIFSS_OUTPUT_MODEL_INPUT).prob).sizes() == at::IntArrayRef({96, 96}));
  CHECK(test::as_at(call.run(*seg, q, imgs, masks, DIFSS_OUTPUT_EXPLICIT, 50, 40).prob).sizes() == at::IntArrayRef({50, 40}));
  std::string msg;
  CHECK(status_of([&] { call.run(*seg, q, {imgs[0], imgs[0]}, {masks[0], masks[0]}); }, &msg) == DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(msg.find("exactly 1 support") != std::string::npos);
}

TEST_CASE("HDMNet plugin: bad parameters are refused with a status and a message", "[hdmnet][plugin]") {
  std::string msg;
  CHECK(status_of([] { test::make_plugin<HDMNetSegmenter>({}); }, &msg) == DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(msg.find("checkpoint") != std::string::npos);
  CHECK(status_of([] { test::make_plugin<HDMNetSegmenter>({{"checkpoint", std::string("/nonexistent/hdm.pth")}}); }, &msg) ==
        DIFSS_ERR_NOT_FOUND);
  CHECK(msg.find("/nonexistent/hdm.pth") != std::string::npos);
  CHECK(status_of([] { test::make_plugin<HDMNetSegmenter>({{"test_weights", true}, {"precision", std::string("fp16")}}); }) ==
        DIFSS_ERR_UNSUPPORTED);
  // A BAM checkpoint is not an HDMNet one: refused naming the file and the missing keys.
  const std::string bam = (test::source_dir() / "plugins/segmenter/bam/tests/data/bam_format_ckpt_5shot.pth").string();
  CHECK(status_of([&] { test::make_plugin<HDMNetSegmenter>({{"checkpoint", bam}, {"shots", int64_t(5)}}); }, &msg) == DIFSS_ERR_IO);
  CHECK(msg.find("bam_format_ckpt_5shot.pth") != std::string::npos);
}
