// PiDiNet (table5_pidinet.pth) against the official PyTorch model (ControlNet 1.1 annotator,
// run in Python: tests/data/README.md) and against the authors' published BSDS edge maps.
#include "catch_torch.hpp"

#include "condition_test_support.hpp"
#include "pidinet.hpp"
#include "softedge_pidinet.hpp"

#include <difss/condition/controlnet_util.hpp>
#include <difss/condition/tensor_mat.hpp>
#include <difss/weights/load.hpp>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>

using namespace difss::test;
using difss::plugins::PiDiNet;
using difss::plugins::SoftEdgePidiNetCondition;

namespace {
std::filesystem::path pidinet_dir() { return shared_dir() / "weights" / "pidinet"; }

const PiDiNet& shared_net() {
  static const PiDiNet net = PiDiNet::from_file(pidinet_dir() / "table5_pidinet.pth");
  return net;
}

nlohmann::json stats() {
  std::ifstream f(condition_data("softedge-pidinet", "pidinet_reference_stats.json"));
  return nlohmann::json::parse(f);
}

double sum_of(const cv::Mat& m) { return cv::sum(m)[0]; }

// The fused map of a reference input with ControlNet preprocessing, computed once per process.
const cv::Mat& controlnet_fused(const std::string& input) {
  static std::map<std::string, cv::Mat> cache;
  auto it = cache.find(input);
  if (it == cache.end()) {
    cv::Mat rgb = read_image(pidinet_dir() / "reference_inputs" / input);
    it = cache.emplace(input, shared_net().fused(rgb, PiDiNet::Preprocess::ControlNet)).first;
  }
  return it->second;
}
}  // namespace

TEST_CASE("PiDiNet random-weight parity with the official model (no shared data)", "[condition][pidinet]") {
  // width 4, dil 4, sa, carv4, in table5_pidinet.pth's layout ({'epoch', 'state_dict'}, 'module.')
  PiDiNet net = PiDiNet::from_file(condition_data("softedge-pidinet", "pidinet_random_w4.pth"));
  CHECK(net.width() == 4);
  CHECK(net.dil() == 4);
  CHECK(net.sa());
  auto ref = difss::weights::load(condition_data("softedge-pidinet", "pidinet_random_w4_reference.safetensors"));
  at::Tensor in = ref.at("input_rgb").contiguous();
  cv::Mat rgb(int(in.size(0)), int(in.size(1)), CV_8UC3, in.data_ptr<uint8_t>());
  at::Tensor x = difss::condition::image_to_nchw_float(rgb, /*bgr=*/true) / 255.0;
  auto out = net.forward(x);
  for (int k = 0; k < 5; ++k) {
    at::Tensor expected = ref.at(k < 4 ? "side" + std::to_string(k + 1) : std::string("fused"));
    at::Tensor got = out[size_t(k)][0][0];
    REQUIRE(got.sizes() == expected.sizes());
    const double diff = (got - expected).abs().max().item<double>();
    INFO("output " << k << " max |diff| " << diff);
    CHECK(diff < 1e-5);  // fp32, after the sigmoid
  }
  cv::Mat fused = net.fused(rgb, PiDiNet::Preprocess::ControlNet);
  at::Tensor f = at::from_blob(fused.data, {fused.rows, fused.cols}, at::kFloat);
  CHECK((f - ref.at("fused")).abs().max().item<double>() < 1e-5);
}

TEST_CASE("PiDiNet loads table5_pidinet.pth (carv4, dil 24, sa) and its tiny variant", "[condition][pidinet][shared]") {
  DIFSS_REQUIRE_SHARED("weights/pidinet/table5_pidinet.pth");
  const PiDiNet& net = shared_net();
  CHECK(net.width() == 60);
  CHECK(net.dil() == 24);
  CHECK(net.sa());
  PiDiNet tiny = PiDiNet::from_file(pidinet_dir() / "table5_pidinet-tiny.pth");
  CHECK(tiny.width() == 20);
  CHECK(tiny.dil() == 8);
  auto out = tiny.forward(at::rand({1, 3, 37, 50}));
  for (const auto& t : out) CHECK(t.sizes() == at::IntArrayRef{1, 1, 37, 50});
}

TEST_CASE("PiDiNet fused map equals the official PyTorch output (ControlNet preprocessing)", "[condition][pidinet][shared][slow]") {
  DIFSS_REQUIRE_SHARED("weights/pidinet/reference_inputs");
  auto ref = difss::weights::load(condition_data("softedge-pidinet", "pidinet_fused_reference.safetensors"));
  auto st = stats();
  for (const auto& [name, s] : st.items()) {
    const cv::Mat& fused = controlnet_fused(s["input"].get<std::string>());
    at::Tensor expected = ref.at(name + "_controlnet_q15").to(at::kFloat) / 32767.0;  // |quantisation| <= 1.6e-5
    at::Tensor got = at::from_blob(fused.data, {fused.rows, fused.cols}, at::kFloat);
    REQUIRE(got.sizes() == expected.sizes());
    const double diff = (got - expected).abs().max().item<double>();
    INFO(name << ": max |sigmoid diff| " << diff << ", sum " << sum_of(fused) << " vs "
              << s["controlnet_sum"].get<double>());
    CHECK(diff < 1e-4);  // includes the 1.5e-5 of the int16 encoding
    at::Tensor crop_ref = ref.at(name + "_controlnet_crop_f32");
    const double crop_diff = (got.slice(0, 96, 224).slice(1, 176, 304) - crop_ref).abs().max().item<double>();
    CHECK(crop_diff < 1e-5);  // fp32 tolerance where the reference is exact fp32
    CHECK(std::abs(sum_of(fused) - s["controlnet_sum"].get<double>()) < 1e-5 * s["controlnet_sum"].get<double>());
    // uint8 map as the annotator makes it: only truncation ties may differ
    cv::Mat u8 = SoftEdgePidiNetCondition::to_u8(fused, false);
    CHECK(std::abs(sum_of(u8) - s["controlnet_u8_sum"].get<double>()) <= 50);
    WARN("PiDiNet " << name << " (controlnet preprocessing): max |ours - official| = " << crop_diff
                    << " on the fp32 128x128 crop, " << diff << " on the int16-encoded full map");
  }
}

TEST_CASE("PiDiNet vs the authors' published maps is as close as the official code", "[condition][pidinet][shared][slow]") {
  DIFSS_REQUIRE_SHARED("weights/pidinet/reference_outputs");
  auto st = stats();
  for (const auto& [name, s] : st.items()) {
    cv::Mat rgb = read_image(pidinet_dir() / "reference_inputs" / s["input"].get<std::string>());
    cv::Mat published = read_image(pidinet_dir() / "reference_outputs" / (name + ".png"), cv::IMREAD_GRAYSCALE);
    cv::Mat fused = shared_net().fused(rgb, PiDiNet::Preprocess::Bsds);
    CHECK(std::abs(sum_of(fused) - s["bsds_sum"].get<double>()) < 1e-5 * s["bsds_sum"].get<double>());
    cv::Mat u8 = SoftEdgePidiNetCondition::to_u8(fused, false), diff;
    REQUIRE(u8.size() == published.size());
    cv::absdiff(u8, published, diff);
    const double mean = cv::mean(diff)[0], mx = cv::norm(diff, cv::NORM_INF);
    const double off_mean = s["official_bsds_vs_published_mean"], off_max = s["official_bsds_vs_published_max"];
    WARN("PiDiNet " << name << " vs published: ours mean " << mean << " max " << mx << "; official PyTorch mean "
                    << off_mean << " max " << off_max);
    CHECK(mean <= off_mean + 0.01);
    CHECK(mx <= off_max + 1);
    // and the ControlNet input (BGR, no normalisation) is NOT what made them
    cv::Mat cn = SoftEdgePidiNetCondition::to_u8(controlnet_fused(s["input"].get<std::string>()), false);
    cv::absdiff(cn, published, diff);
    CHECK(cv::mean(diff)[0] > 5 * off_mean);
  }
}

TEST_CASE("safe_step quantisation as annotator/util.py", "[condition][pidinet]") {
  cv::Mat p = (cv::Mat_<float>(1, 6) << 0.0f, 0.3f, 0.34f, 0.67f, 0.999f, 1.0f);
  cv::Mat u = SoftEdgePidiNetCondition::to_u8(p, true);
  // floor(3p) / 2 -> 0, 0, 0.5, 1, 1, 1.5 -> * 255 clipped
  CHECK(u.at<uint8_t>(0) == 0);
  CHECK(u.at<uint8_t>(1) == 0);
  CHECK(u.at<uint8_t>(2) == 127);
  CHECK(u.at<uint8_t>(3) == 255);
  CHECK(u.at<uint8_t>(5) == 255);
  cv::Mat plain = SoftEdgePidiNetCondition::to_u8(p, false);
  CHECK(plain.at<uint8_t>(1) == 76);  // 0.3 * 255 = 76.5 truncated
}

TEST_CASE("PiDiNet rejects checkpoints that are not PiDiNet", "[condition][pidinet]") {
  difss::weights::StateDict sd("bogus");
  sd.insert("module.init_block.weight", at::zeros({60, 3, 3, 3}));
  try {
    PiDiNet net(sd);
    FAIL("expected an error");
  } catch (const difss::sdk::Error& e) {
    CHECK(std::string(e.what()).find("block1_1.conv1.weight") != std::string::npos);  // missing keys listed
  }
  difss::weights::StateDict empty("empty");
  CHECK_THROWS_AS(PiDiNet(empty), difss::sdk::Error);
}

TEST_CASE("softedge-pidinet plugin on a real image with default parameters", "[condition][pidinet][shared]") {
  DIFSS_REQUIRE_SHARED("weights/pidinet/table5_pidinet.pth");
  DIFSS_REQUIRE_SHARED("data/persam");
  cv::Mat image = read_image(shared_dir() / "data" / "persam" / "cat_00.jpg");
  cv::Mat label = read_image(shared_dir() / "data" / "persam" / "cat_00.png", cv::IMREAD_GRAYSCALE);
  cv::Mat mask = label > 0;
  mask /= 255;
  const std::string ckpt = (pidinet_dir() / "table5_pidinet.pth").string();
  // the default `checkpoint` is found through DIFSS_MODELS_DIR
  setenv("DIFSS_MODELS_DIR", pidinet_dir().c_str(), 1);
  auto plugin = make_plugin<SoftEdgePidiNetCondition>();
  unsetenv("DIFSS_MODELS_DIR");
  cv::Mat out = run_condition(*plugin, image, mask, 1, "cat", "custom");
  CHECK(out.size() == cv::Size(512, 512));  // 1282 x 1282 -> 512 x 512
  CHECK(out.type() == CV_8UC3);
  cv::Mat c0;
  cv::extractChannel(out, c0, 0);
  cv::Mat outside = difss::condition::dilate_fss(
                        difss::condition::foreground01(difss::condition::resize_nearest(mask, out.size()))) == 0;
  CHECK(cv::countNonZero(c0 & outside) == 0);
  CHECK(cv::countNonZero(c0 > 128) > 500);
  auto plain = make_plugin<SoftEdgePidiNetCondition>(
      {{"checkpoint", string_value(ckpt.c_str(), DIFSS_PARAM_PATH)},
       {"mask_filter", bool_value(false)},
       {"resolution", int_value(256)}});
  cv::Mat all = run_condition(*plain, image, mask);
  REQUIRE(all.size() == cv::Size(256, 256));
  cv::Mat a0, outside256;
  cv::extractChannel(all, a0, 0);
  cv::resize(outside, outside256, all.size(), 0, 0, cv::INTER_NEAREST);
  CHECK(cv::countNonZero(a0 & outside256) > 0);  // edges outside the mask survive without the filter
}
