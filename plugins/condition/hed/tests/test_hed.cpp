// HED port: random-weight parity with the official ControlNetHED_Apache2 + HEDdetector (run in
// Python, see tests/data/README.md), the official key/shape layout, and FSSpregenerate.py's
// hed_control / scribble_control end to end.
#include "catch_torch.hpp"

#include "condition_test_support.hpp"
#include "controlnet_hed.hpp"
#include "hed_conditions.hpp"

#include <difss/condition/controlnet_util.hpp>
#include <difss/condition/tensor_mat.hpp>
#include <difss/sdk/error.hpp>
#include <difss/weights/load.hpp>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <fstream>

using namespace difss::test;
using difss::plugins::ControlNetHed;

namespace {
std::string random_checkpoint() { return condition_data("hed", "hed_random_w8.pth").string(); }

cv::Mat u8_mat(const at::Tensor& t) {  // [H, W] or [H, W, C] uint8 tensor -> Mat copy
  at::Tensor c = t.contiguous();
  int ch = c.dim() == 3 ? int(c.size(2)) : 1;
  return cv::Mat(int(c.size(0)), int(c.size(1)), CV_8UC(ch), c.data_ptr<uint8_t>()).clone();
}
}  // namespace

TEST_CASE("HED random-weight parity with the official network", "[condition][hed]") {
  // fp16 checkpoint in the official key layout, widths 8/16/16/32/32; computed in fp32 as the
  // official HEDdetector does (.float() model, fp16 state dict copied in).
  ControlNetHed net = ControlNetHed::from_file(random_checkpoint());
  CHECK(net.widths() == std::array<int, 5>{8, 16, 16, 32, 32});
  CHECK(net.conv_counts() == std::array<int, 5>{2, 2, 3, 3, 3});
  auto ref = difss::weights::load(condition_data("hed", "hed_random_w8_reference.safetensors"));
  cv::Mat input = u8_mat(ref.at("input"));
  REQUIRE(input.size() == cv::Size(96, 64));

  auto side = net.forward(difss::condition::image_to_nchw_float(input));
  for (int k = 0; k < 5; ++k) {
    at::Tensor expected = ref.at("projection" + std::to_string(k + 1));
    at::Tensor got = side[size_t(k)].squeeze(0).squeeze(0);
    REQUIRE(got.sizes() == expected.sizes());
    double diff = (got - expected).abs().max().item<double>();
    double scale = expected.abs().max().item<double>();
    INFO("side output " << k + 1 << " max |diff| " << diff << " (max |ref| " << scale << ")");
    CHECK(diff < 1e-4 * std::max(1.0, scale));  // fp32 tolerance
    WARN("HED side output " << k + 1 << ": max |ours - official| = " << diff << " (max |official| " << scale << ")");
  }
  cv::Mat prob = net.edge_probability(input);
  at::Tensor expected_prob = ref.at("edge").to(at::kDouble);
  at::Tensor got_prob = at::from_blob(prob.data, {prob.rows, prob.cols}, at::kDouble);
  double pdiff = (got_prob - expected_prob).abs().max().item<double>();
  INFO("edge probability max |diff| " << pdiff);
  CHECK(pdiff < 1e-5);
  WARN("HED edge probability: max |ours - official| = " << pdiff);
  cv::Mat u8 = net.detect(input);
  cv::Mat expected_u8 = u8_mat(ref.at("edge_u8"));
  INFO("uint8 edge pixels differing: " << count_diff(u8, expected_u8));
  CHECK(max_abs_diff(u8, expected_u8) <= 1);
  CHECK(count_diff(u8, expected_u8) <= u8.rows * u8.cols / 1000);  // truncation ties only
  WARN("HED uint8 map: " << count_diff(u8, expected_u8) << " of " << u8.total() << " pixels differ");
}

TEST_CASE("HED loads the official ControlNetHED.pth key/shape layout", "[condition][hed]") {
  std::ifstream f(condition_data("hed", "controlnethed_official_layout.json"));
  REQUIRE(f.good());
  auto layout = nlohmann::json::parse(f)["tensors"];
  REQUIRE(layout.size() == 37);
  difss::weights::StateDict sd("official-layout");
  int64_t params = 0;
  for (const auto& t : layout) {
    auto shape = t["shape"].get<std::vector<int64_t>>();
    at::Tensor z = at::zeros(shape, at::kHalf);
    params += z.numel();
    sd.insert(t["name"].get<std::string>(), z);
  }
  CHECK(params == 14716168);
  ControlNetHed net(sd);
  CHECK(net.widths() == std::array<int, 5>{64, 128, 256, 512, 512});
  CHECK(net.conv_counts() == std::array<int, 5>{2, 2, 3, 3, 3});
  auto side = net.forward(at::zeros({1, 3, 32, 48}));
  CHECK(side[0].sizes() == at::IntArrayRef{1, 1, 32, 48});
  CHECK(side[4].sizes() == at::IntArrayRef{1, 1, 2, 3});

  auto message_of = [](const difss::weights::StateDict& bad) {
    try {
      ControlNetHed n(bad);
    } catch (const difss::sdk::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto missing = sd;
  missing.erase("block3.convs.2.bias");
  CHECK(message_of(missing).find("block3.convs.2.bias") != std::string::npos);
  auto extra = sd;
  extra.insert("block6.projection.weight", at::zeros({1, 512, 1, 1}));
  CHECK(message_of(extra).find("block6.projection.weight") != std::string::npos);
  auto misshaped = sd;
  misshaped.insert("block2.convs.1.weight", at::zeros({128, 64, 3, 3}, at::kHalf));
  CHECK(message_of(misshaped).find("block2.convs.1.weight") != std::string::npos);
  auto no_norm = sd;
  no_norm.erase("norm");
  CHECK(message_of(no_norm).find("norm") != std::string::npos);
}

TEST_CASE("hed and scribble equal FSSpregenerate.py's hed_control / scribble_control", "[condition][hed]") {
  cv::Mat image = read_image(condition_data("hed", "img_45x100.png"));
  cv::Mat mask = read_image(condition_data("common", "mask_45x100.png"), cv::IMREAD_UNCHANGED);
  const std::string ckpt = random_checkpoint();
  std::vector<std::pair<std::string, difss_value>> params{
      {"checkpoint", string_value(ckpt.c_str(), DIFSS_PARAM_PATH)}, {"resolution", int_value(64)}};

  auto hed = make_plugin<difss::plugins::HedCondition>(params);
  cv::Mat out = run_condition(*hed, image, mask, 15, "person", "pascal");
  cv::Mat ref = read_image(condition_data("hed", "hed_res64.png"));
  REQUIRE(out.size() == cv::Size(128, 64));
  INFO("hed pixels differing: " << count_diff(out, ref));
  CHECK(max_abs_diff(out, ref) <= 1);
  CHECK(count_diff(out, ref) <= 3 * 8);  // expected 0; a truncation tie may flip a pixel by 1

  auto plain = params;
  plain.push_back({"mask_filter", bool_value(false)});
  auto raw_hed = make_plugin<difss::plugins::HedCondition>(plain);
  cv::Mat raw = run_condition(*raw_hed, image, mask);
  cv::Mat raw_ref = read_image(condition_data("hed", "hed_raw_res64.png"));
  CHECK(max_abs_diff(raw, raw_ref) <= 1);

  auto with_image_res = params;
  with_image_res.push_back({"image_resolution", int_value(64)});
  auto scribble = make_plugin<difss::plugins::ScribbleCondition>(with_image_res);
  cv::Mat s = run_condition(*scribble, image, mask, 15, "person", "pascal");
  cv::Mat s_ref = read_image(condition_data("hed", "scribble_res64.png"));
  REQUIRE(s.size() == s_ref.size());
  INFO("scribble pixels differing: " << count_diff(s, s_ref));
  CHECK(count_diff(s, s_ref) == 0);
  cv::Mat values;
  cv::Mat s0;
  cv::extractChannel(s, s0, 0);
  CHECK(cv::countNonZero(s0 == 0) + cv::countNonZero(s0 == 255) == s0.rows * s0.cols);
}

TEST_CASE("hed / scribble: missing checkpoint is a NOT_FOUND error naming the file", "[condition][hed]") {
  std::vector<std::pair<std::string, difss_value>> params{
      {"checkpoint", string_value("/nonexistent/ControlNetHED.pth", DIFSS_PARAM_PATH)}};
  try {
    make_plugin<difss::plugins::HedCondition>(params);
    FAIL("expected an error");
  } catch (const difss::sdk::Error& e) {
    CHECK(e.status() == DIFSS_ERR_NOT_FOUND);
    CHECK(std::string(e.what()).find("/nonexistent/ControlNetHED.pth") != std::string::npos);
  }
  // a file that is not a checkpoint
  const std::string not_ckpt = condition_data("hed", "img_45x100.png").string();
  CHECK_THROWS_AS(make_plugin<difss::plugins::HedCondition>(
                      {{"checkpoint", string_value(not_ckpt.c_str(), DIFSS_PARAM_PATH)}}),
                  difss::sdk::Error);
}

TEST_CASE("hed and scribble on a real image with default sizes", "[condition][hed][shared]") {
  DIFSS_REQUIRE_SHARED("data/voc-sample");
  // ControlNetHED.pth itself is not available here: the random reduced-width file stands in.
  cv::Mat image = read_image(shared_dir() / "data" / "voc-sample" / "JPEGImages" / "2011_000003.jpg");
  cv::Mat mask = cv::Mat::zeros(image.size(), CV_8U);
  cv::rectangle(mask, cv::Rect(150, 60, 200, 220), cv::Scalar(1), -1);
  const std::string ckpt = random_checkpoint();
  std::vector<std::pair<std::string, difss_value>> params{{"checkpoint", string_value(ckpt.c_str(), DIFSS_PARAM_PATH)}};
  auto hed = make_plugin<difss::plugins::HedCondition>(params);
  cv::Mat out = run_condition(*hed, image, mask, 15, "person", "pascal");
  CHECK(out.size() == cv::Size(768, 512));
  CHECK(out.type() == CV_8UC3);
  // outside the box of the resized mask grown by the 7 px reach of the 14x14 kernel: all 0
  cv::Rect r = cv::boundingRect(difss::condition::resize_nearest(mask, out.size()));
  cv::Mat box = cv::Mat::zeros(out.size(), CV_8U);
  cv::rectangle(box, cv::Rect(r.x - 7, r.y - 7, r.width + 14, r.height + 14), cv::Scalar(1), -1);
  cv::Mat c0;
  cv::extractChannel(out, c0, 0);
  CHECK(cv::countNonZero(c0.mul(1 - box)) == 0);
  CHECK(cv::countNonZero(c0) > 1000);
  auto scribble = make_plugin<difss::plugins::ScribbleCondition>(params);
  cv::Mat s = run_condition(*scribble, image, mask, 15, "person", "pascal");
  CHECK(s.size() == cv::Size(768, 512));
}
