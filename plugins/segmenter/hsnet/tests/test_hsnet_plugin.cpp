// The HSNet plugin class: parameters, checkpoint loading through a file, outputs at the query's
// size, errors that name what is wrong.
#include "catch_torch.hpp"
#include "plugin_harness.hpp"
#include "test_inputs.hpp"

#include <difss/fss/hsnet.hpp>

#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "../src/hsnet_segmenter.hpp"

namespace fs = std::filesystem;
using namespace difss;
using plugins::HSNetSegmenter;
using test::status_of;

namespace {

// Minimal .safetensors writer (F32 only) for a temporary checkpoint.
void write_safetensors(const fs::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  nlohmann::json h;
  uint64_t off = 0;
  for (const auto& [k, t] : tensors) {
    const uint64_t n = uint64_t(t.numel()) * 4;
    h[k] = {{"dtype", "F32"}, {"shape", t.sizes().vec()}, {"data_offsets", {off, off + n}}};
    off += n;
  }
  std::string hs = h.dump();
  while (hs.size() % 8) hs += ' ';
  std::ofstream f(path, std::ios::binary);
  uint64_t len = hs.size();
  f.write(reinterpret_cast<const char*>(&len), 8);
  f.write(hs.data(), std::streamsize(hs.size()));
  for (const auto& [k, t] : tensors) {
    at::Tensor c = t.to(at::kFloat).contiguous();
    f.write(static_cast<const char*>(c.data_ptr()), std::streamsize(c.numel() * 4));
  }
}

}  // namespace

TEST_CASE("HSNet plugin: outputs have the query's size, prob and mask agree", "[hsnet][plugin][slow]") {
  auto seg = test::make_plugin<HSNetSegmenter>({{"test_weights", true}, {"image_size", int64_t(160)}});
  at::Tensor q = test::test_image(200, 0).narrow(1, 0, 150);  // 200 x 150, not square
  std::vector<at::Tensor> imgs{test::test_image(120, 1), test::test_image(90, 2)};
  std::vector<at::Tensor> masks{test::ellipse_mask(120, 1), test::ellipse_mask(90, 2)};
  masks[1][0][0] = 255;  // ignore label: background for supports
  test::SegmentCall call;
  for (size_t K : {size_t(1), size_t(2)}) {
    auto out = call.run(*seg, q, {imgs.begin(), imgs.begin() + long(K)}, {masks.begin(), masks.begin() + long(K)});
    at::Tensor prob = test::as_at(out.prob), mask = test::as_at(out.mask);
    CHECK(prob.sizes() == at::IntArrayRef({200, 150}));
    CHECK(mask.sizes() == at::IntArrayRef({200, 150}));
    CHECK(prob.scalar_type() == at::kFloat);
    CHECK(mask.scalar_type() == at::kByte);
    CHECK(prob.min().item<float>() >= 0.0f);
    CHECK(prob.max().item<float>() <= 1.0f);
    CHECK(mask.le(1).all().item<bool>());
    CHECK(mask.eq((prob >= 0.5).to(at::kByte)).all().item<bool>());
  }
}

TEST_CASE("HSNet plugin: predictions at the model's input size or an explicit size", "[hsnet][plugin]") {
  auto seg = test::make_plugin<HSNetSegmenter>({{"test_weights", true}, {"image_size", int64_t(160)}});
  at::Tensor q = test::test_image(200, 0).narrow(1, 0, 150);
  std::vector<at::Tensor> imgs{test::test_image(120, 1)}, masks{test::ellipse_mask(120, 1)};
  test::SegmentCall call;
  // HSNet's default evaluation: logits at the 160 x 160 input, nothing resized back.
  auto at_input = call.run(*seg, q, imgs, masks, DIFSS_OUTPUT_MODEL_INPUT);
  CHECK(test::as_at(at_input.prob).sizes() == at::IntArrayRef({160, 160}));
  CHECK(test::as_at(at_input.mask).sizes() == at::IntArrayRef({160, 160}));
  auto explicit_size = call.run(*seg, q, imgs, masks, DIFSS_OUTPUT_EXPLICIT, 40, 70);
  CHECK(test::as_at(explicit_size.prob).sizes() == at::IntArrayRef({40, 70}));
  // Asking for the input size explicitly is the same prediction.
  auto same = call.run(*seg, q, imgs, masks, DIFSS_OUTPUT_EXPLICIT, 160, 160);
  CHECK(test::as_at(same.prob).equal(test::as_at(at_input.prob)));
}

TEST_CASE("HSNet plugin: a checkpoint file with the official layout gives the same output", "[hsnet][plugin][slow]") {
  // Deterministic weights written as an official-style state dict ("module." prefix, classifier
  // head and num_batches_tracked included), loaded through the 'checkpoint' parameter.
  fss::HSNet net("resnet50");
  fss::deterministic_init(net.named_tensors());
  std::vector<std::pair<std::string, at::Tensor>> sd;
  for (auto& nt : net.named_tensors()) sd.emplace_back("module." + nt.name, *nt.tensor);
  sd.emplace_back("module.backbone.fc.weight", at::zeros({1000, 2048}));
  sd.emplace_back("module.backbone.fc.bias", at::zeros({1000}));
  sd.emplace_back("module.backbone.bn1.num_batches_tracked", at::zeros({}));
  const fs::path path = fs::temp_directory_path() / "difss_test_hsnet_ckpt.safetensors";
  write_safetensors(path, sd);

  auto a = test::make_plugin<HSNetSegmenter>({{"checkpoint", path.string()}, {"image_size", int64_t(128)}});
  auto b = test::make_plugin<HSNetSegmenter>({{"test_weights", true}, {"image_size", int64_t(128)}});
  fs::remove(path);
  at::Tensor q = test::test_image(128, 0);
  test::SegmentCall call;
  auto oa = call.run(*a, q, {test::test_image(128, 1)}, {test::ellipse_mask(128, 1)});
  auto ob = call.run(*b, q, {test::test_image(128, 1)}, {test::ellipse_mask(128, 1)});
  CHECK(at::equal(test::as_at(oa.prob), test::as_at(ob.prob)));
}

TEST_CASE("HSNet plugin: bad parameters and inputs are refused with a status and a message", "[hsnet][plugin]") {
  std::string msg;
  CHECK(status_of([] { test::make_plugin<HSNetSegmenter>({}); }, &msg) == DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(msg.find("checkpoint") != std::string::npos);
  CHECK(status_of([] { test::make_plugin<HSNetSegmenter>({{"checkpoint", std::string("/nonexistent/x.pt")}}); }, &msg) ==
        DIFSS_ERR_NOT_FOUND);
  CHECK(msg.find("/nonexistent/x.pt") != std::string::npos);
  CHECK(status_of([] { test::make_plugin<HSNetSegmenter>({{"test_weights", true}, {"precision", std::string("fp16")}}); }) ==
        DIFSS_ERR_UNSUPPORTED);
  CHECK(status_of([] { test::make_plugin<HSNetSegmenter>({{"backbone", std::string("resnet7")}}); }) ==
        DIFSS_ERR_INVALID_ARGUMENT);
  // ResNet levels always line up (ceil divisions); VGG's floor-rounding pools do not at some
  // sizes, e.g. 264 (conv4 33 -> 2 squeezed, conv5 16 -> 1, pool5 8 -> 1).
  for (int64_t s = 64; s <= 1024; ++s) CHECK(HSNetSegmenter::size_is_usable("resnet50", s));
  CHECK_FALSE(HSNetSegmenter::size_is_usable("vgg16", 264));
  CHECK(status_of([&] {
          test::make_plugin<HSNetSegmenter>(
              {{"test_weights", true}, {"backbone", std::string("vgg16")}, {"image_size", int64_t(264)}});
        }, &msg) == DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(msg.find("image_size") != std::string::npos);
  CHECK(HSNetSegmenter::size_is_usable("resnet50", 400));
  CHECK(HSNetSegmenter::size_is_usable("resnet50", 473));
  CHECK(HSNetSegmenter::size_is_usable("vgg16", 400));

  // A mask whose size differs from its image.
  auto seg = test::make_plugin<HSNetSegmenter>({{"test_weights", true}, {"image_size", int64_t(128)}});
  test::SegmentCall call;
  CHECK(status_of([&] { call.run(*seg, test::test_image(64, 0), {test::test_image(64, 1)}, {test::ellipse_mask(60, 1)}); }, &msg) ==
        DIFSS_ERR_INVALID_ARGUMENT);
  CHECK(msg.find("support_masks[0]") != std::string::npos);
}

TEST_CASE("HSNet plugin: fold_batchnorm = false runs the official unfolded backbone, to rounding the same",
          "[hsnet][plugin]") {
  auto folded = test::make_plugin<HSNetSegmenter>({{"test_weights", true}, {"image_size", int64_t(128)}});
  auto official = test::make_plugin<HSNetSegmenter>(
      {{"test_weights", true}, {"image_size", int64_t(128)}, {"fold_batchnorm", false}});
  at::Tensor q = test::test_image(128, 0);
  test::SegmentCall call;
  auto a = call.run(*folded, q, {test::test_image(128, 1)}, {test::ellipse_mask(128, 1)});
  auto b = call.run(*official, q, {test::test_image(128, 1)}, {test::ellipse_mask(128, 1)});
  const double diff = (test::as_at(a.prob) - test::as_at(b.prob)).abs().max().item<double>();
  INFO("max |prob difference| folded vs unfolded: " << diff);
  CHECK(diff > 0);     // the folded path ran: its rounding differs
  CHECK(diff <= 1e-5);
}
