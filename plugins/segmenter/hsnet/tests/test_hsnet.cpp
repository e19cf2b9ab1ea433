// HSNet: parity with the official implementation (random deterministic weights), the official
// checkpoint key layout, image preparation against PIL, and the plugin's behaviour.
#include "catch_torch.hpp"
#include "shared_data.hpp"
#include "test_inputs.hpp"

#include <difss/fss/checkpoint.hpp>
#include <difss/fss/hsnet.hpp>
#include <difss/fss/image_prep.hpp>
#include <difss/weights/error.hpp>
#include <difss/weights/load.hpp>

#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "../src/hsnet_segmenter.hpp"

namespace fs = std::filesystem;
using namespace difss;

namespace {

fs::path data_dir() { return test::source_dir() / "plugins/segmenter/hsnet/tests/data"; }

double max_abs(const at::Tensor& t) { return t.abs().max().item<double>(); }

// `folded`: the backbone's BatchNorms folded into its convolutions, as the engine runs it by
// default (HSNetConfig::fold_batchnorm); the same references and tolerances as unfolded.
void check_parity(int64_t S, int64_t H, int64_t W, bool folded) {
  c10::InferenceMode guard;
  weights::StateDict ref = weights::load_safetensors(data_dir() / ("hsnet_r50_parity_S" + std::to_string(S) + ".safetensors"));
  fss::HSNet net("resnet50");
  fss::deterministic_init(net.named_tensors());
  if (folded) REQUIRE(net.backbone().fold_for_inference() == 53);  // stem + 16 blocks x 3 + 4 downsamples
  const int64_t K = 5;
  at::Tensor q = fss::prepare_image(test::test_image(S, 0), S, S);
  std::vector<at::Tensor> imgs, masks;
  for (int64_t k = 1; k <= K; ++k) {
    imgs.push_back(fss::prepare_image(test::test_image(S, k), S, S));
    masks.push_back(fss::prepare_mask(test::ellipse_mask(S, k), S, S));
  }
  at::Tensor sup = at::cat(imgs), msk = at::cat(masks);

  // Per-shot logits at the decoder resolution.
  std::vector<at::Tensor> qf = net.features(q);
  const at::Tensor& ref_logits = ref.at("logits");  // [K, 2, S/4, S/4]
  double worst = 0, scale = max_abs(ref_logits);
  std::vector<at::Tensor> logits;
  for (int64_t k = 0; k < K; ++k) {
    logits.push_back(net.forward_features(qf, net.features(sup.narrow(0, k, 1)), msk.narrow(0, k, 1)));
    REQUIRE(logits.back().sizes() == ref_logits.narrow(0, k, 1).sizes());
    worst = std::max(worst, max_abs(logits.back() - ref_logits.narrow(0, k, 1)));
  }
  const char* mode = folded ? " (backbone folded)" : " (backbone unfolded)";
  INFO("S = " << S << mode << ": logits max-abs diff " << worst << " (logit scale " << scale << ")");
  WARN("HSNet parity S=" << S << mode << ": logits max-abs diff " << worst << ", max |logit| " << scale);
  CHECK(worst <= 2e-5);
  CHECK(worst <= 1e-4 * scale);

  // Predictions at the "original" query size (one shot = support 1; five shots = supports 1..5).
  // (predict_nshot = these logits + predict_from_logits; computed once here to keep the test fast.)
  auto p1 = fss::predict_from_logits({logits[0]}, {H, W});
  auto p5 = fss::predict_from_logits(logits, {H, W});
  const at::Tensor r1 = ref.at("pred_1shot"), r5 = ref.at("pred_5shot");
  REQUIRE(p1.mask[0].sizes() == r1.sizes());
  REQUIRE(p5.mask[0].sizes() == r5.sizes());
  const double n = double(H * W);
  const double d1 = p1.mask[0].ne(r1).sum().item<double>() / n, d5 = p5.mask[0].ne(r5).sum().item<double>() / n;
  WARN("HSNet parity S=" << S << mode << ": mask disagreement 1-shot " << d1 << ", 5-shot " << d5
                         << " (fg fraction " << r1.to(at::kFloat).mean().item<double>() << ", "
                         << r5.to(at::kFloat).mean().item<double>() << ")");
  CHECK(d1 <= 1e-4);
  CHECK(d5 <= 1e-4);
  // The 5-shot prob is the vote fraction; mask == (prob >= 0.5); the 1-shot prob is a softmax.
  CHECK(p5.mask.eq((p5.prob >= 0.5).to(at::kByte)).all().item<bool>());
  CHECK(p1.mask.eq((p1.prob >= 0.5).to(at::kByte)).all().item<bool>());
  const at::Tensor votes = ref.at("votes_5shot").to(at::kFloat);
  const double expect_max = votes.max().item<double>();
  CHECK(p5.prob.max().item<double>() == Approx(1.0));
  const double vote_diff = (p5.prob[0] * expect_max - votes).abs().gt(0.5).to(at::kFloat).mean().item<double>();
  CHECK(vote_diff <= 1e-4);
  // Under the default convolution policy the learner's 128-channel convolutions over the 50x50
  // query dims ran through Winograd (core/models/conv) where the CPU has it: the same tolerances.
  if (S == 400 && difss::conv::conv_algorithm() == "auto")
    CHECK((net.learner().encoder_layer3to2.convs[0].winograd1.weight_bytes() > 0) ==
          difss::conv::winograd_available());
}

}  // namespace

TEST_CASE("HSNet-ResNet50 matches the official implementation at 400x400, 1 and 5 shots", "[hsnet][parity][slow]") {
  check_parity(400, 237, 311, /*folded=*/false);
  check_parity(400, 237, 311, /*folded=*/true);
}

TEST_CASE("HSNet-ResNet50 matches the official implementation at 320x320, 1 and 5 shots", "[hsnet][parity][slow]") {
  check_parity(320, 200, 150, /*folded=*/false);
  check_parity(320, 200, 150, /*folded=*/true);
}

TEST_CASE("The official HSNet state dict keys map 1:1 onto the model", "[hsnet][keys]") {
  std::ifstream f(data_dir() / "hsnet_state_dict_keys.json");
  REQUIRE(f);
  nlohmann::json j = nlohmann::json::parse(f);
  for (const std::string bb : {"resnet50", "resnet101", "vgg16"}) {
    SECTION(bb) {
      fss::HSNet net(bb);
      auto ours = fss::shapes_of(net.named_tensors());
      const auto unused = net.unused_prefixes();
      size_t matched = 0, ignored = 0;
      weights::StateDict sd("official-layout");
      for (auto it = j[bb].begin(); it != j[bb].end(); ++it) {
        std::string key = it.key();
        REQUIRE(key.rfind("module.", 0) == 0);
        std::vector<int64_t> shape = it->get<std::vector<int64_t>>();
        std::string name = key.substr(7);
        bool is_unused = name.size() > 20 && name.compare(name.size() - 20, 20, ".num_batches_tracked") == 0;
        for (const auto& u : unused) is_unused |= name.rfind(u, 0) == 0;
        if (is_unused) {
          ++ignored;
          CHECK(ours.count(name) == 0);
        } else {
          INFO(key);
          REQUIRE(ours.count(name) == 1);
          CHECK(ours[name] == shape);
          ++matched;
        }
        // A zero-cost stand-in for the checkpoint tensor (expanded scalar).
        sd.insert(key, shape.empty() ? at::zeros({}) : at::zeros({1}).expand(shape));
      }
      CHECK(matched == ours.size());
      WARN(bb << ": " << matched << " official keys mapped onto the model, " << ignored
              << " ignored (classifier head, num_batches_tracked)");
      // And the loader accepts exactly that layout.
      auto rep = weights::bind_state_dict(sd, fss::slots_of(net.named_tensors()), fss::bind_options(unused));
      CHECK(rep.ok());
      CHECK(rep.bound.size() == matched);
      CHECK(rep.ignored.size() == ignored);
    }
  }
}

TEST_CASE("A state dict with a wrong shape or a missing key is refused, naming the key", "[hsnet][keys]") {
  fss::HSNet net("resnet50");
  weights::StateDict sd("bad.pt");
  for (auto& nt : net.named_tensors()) sd.insert("module." + nt.name, at::zeros_like(*nt.tensor));
  sd.insert("module.hpn_learner.decoder2.2.weight", at::zeros({3, 64, 3, 3}));
  sd.erase("module.backbone.layer3.2.bn2.running_var");
  try {
    weights::bind_state_dict(sd, fss::slots_of(net.named_tensors()), fss::bind_options(net.unused_prefixes()));
    FAIL("no exception");
  } catch (const weights::WeightError& e) {
    std::string msg = e.what();
    CHECK(msg.find("bad.pt") != std::string::npos);
    CHECK(msg.find("backbone.layer3.2.bn2.running_var") != std::string::npos);
    CHECK(msg.find("hpn_learner.decoder2.2.weight: checkpoint [3, 64, 3, 3] vs model [2, 64, 3, 3]") != std::string::npos);
  }
}

TEST_CASE("Image preparation matches PIL's bilinear resize within one grey level", "[hsnet][prep]") {
  weights::StateDict ref = weights::load_safetensors(data_dir() / "pil_resize_ref.safetensors");
  at::Tensor src = test::test_image(400, 0);
  at::Tensor down = fss::resize_image_u8(src, 101, 137);
  at::Tensor up = fss::resize_image_u8(src.narrow(0, 0, 60).narrow(1, 0, 80), 75, 97);
  for (auto [ours, key] : {std::pair{down, "down_101x137"}, std::pair{up, "up_75x97_from_60x80"}}) {
    at::Tensor d = (ours.to(at::kInt) - ref.at(key).to(at::kInt)).abs();
    WARN(key << ": max |ours - PIL| " << d.max().item<int>() << ", mean " << d.to(at::kFloat).mean().item<double>());
    CHECK(d.max().item<int>() <= 1);
    CHECK(d.to(at::kFloat).mean().item<double>() < 0.02);
  }
  // Masks: nearest neighbour with PyTorch's index rule; 255 is background for the support.
  at::Tensor m = at::tensor(std::vector<uint8_t>{0, 1, 255, 1}).view({2, 2});
  at::Tensor r = fss::prepare_mask(m, 4, 4);
  CHECK(r.sizes() == at::IntArrayRef({1, 4, 4}));
  CHECK(r[0][0][2].item<float>() == 1.0f);
  CHECK(r[0][3][0].item<float>() == 0.0f);  // the 255 pixel
  CHECK(r.sum().item<float>() == 8.0f);
  CHECK(fss::prepare_valid(m, 4, 4).sum().item<float>() == 12.0f);
}

TEST_CASE("A tiny HSNet (narrow ResNet) trains: forward is differentiable w.r.t. the learner", "[hsnet][tiny][slow]") {
  fss::ResNetConfig cfg = fss::ResNetConfig::resnet18();
  cfg.name = "resnet10-w16";
  cfg.layers = {1, 1, 1, 1};
  cfg.width = 16;
  fss::HSNet net(fss::make_resnet(cfg));
  fss::deterministic_init(net.named_tensors());
  for (auto& nt : net.learner_tensors()) nt.tensor->requires_grad_(true);
  at::Tensor q = fss::prepare_image(test::test_image(128, 0), 128, 128);
  at::Tensor s = fss::prepare_image(test::test_image(128, 1), 128, 128);
  at::Tensor m = fss::prepare_mask(test::ellipse_mask(128, 1), 128, 128);
  at::Tensor gt = fss::prepare_mask(test::ellipse_mask(128, 0), 128, 128);
  at::Tensor logits = net.forward(q, s, m);
  CHECK(logits.sizes() == at::IntArrayRef({1, 2, 32, 32}));
  at::Tensor loss = fss::hsnet_loss(fss::upsample_logits(logits, {128, 128}), gt);
  loss.backward();
  size_t defined = 0, nonzero = 0;
  for (auto& nt : net.learner_tensors()) {
    defined += nt.tensor->grad().defined();
    nonzero += nt.tensor->grad().defined() && nt.tensor->grad().abs().sum().item<double>() > 0;
  }
  CHECK(defined == net.learner_tensors().size());
  CHECK(nonzero + 2 >= net.learner_tensors().size());  // a dead ReLU may zero one or two
  // A small SGD step on the learner lowers the loss on this example.
  {
    at::NoGradGuard ng;
    for (auto& nt : net.learner_tensors()) nt.tensor->sub_(nt.tensor->grad() * 1e-4);
  }
  at::Tensor loss2 = fss::hsnet_loss(fss::upsample_logits(net.forward(q, s, m), {128, 128}), gt);
  CHECK(loss2.item<double>() < loss.item<double>());
  // The backbone stays frozen (no gradient requested).
  CHECK_FALSE(net.backbone().named_tensors().front().tensor->requires_grad());
}
