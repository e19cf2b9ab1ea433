// DCAMA: parity with the official implementation (deterministic random weights; ResNet-50 and a
// reduced Swin; backbone features, attention blocks, whole forward, 1 and 5 shots), K shots for any
// batch size, and the official checkpoint key layout of the full-size models.
#include "catch_torch.hpp"
#include "shared_data.hpp"
#include "test_inputs.hpp"

#include <difss/fss/checkpoint.hpp>
#include <difss/fss/dcama.hpp>
#include <difss/fss/dcama_engine.hpp>
#include <difss/fss/image_prep.hpp>
#include <difss/weights/error.hpp>
#include <difss/weights/load.hpp>

#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace difss;

namespace {

fs::path data_dir() { return test::source_dir() / "plugins/segmenter/dcama/tests/data"; }

double max_abs(const at::Tensor& t) { return t.abs().max().item<double>(); }

// The reduced Swin of the parity data (tests/data/README.md).
fss::SwinConfig small_swin() {
  fss::SwinConfig c;
  c.img_size = 96;
  c.window_size = 6;
  c.embed_dim = 32;
  c.depths = {2, 2, 4, 2};
  c.num_heads = {1, 2, 4, 8};
  return c;
}

// Tolerances (fp32): features relative to their scale, coarse masks (in [0, 1]) absolute, logits absolute and
// relative to the largest logit, argmax masks on at most 0.05 % of the pixels.
constexpr double kFeatureRel = 2e-5, kCoarseAbs = 1e-4, kLogitAbs = 1e-4, kLogitRel = 1e-5, kMaskFrac = 5e-4;

void check_parity(const std::string& name, std::unique_ptr<fss::DCAMAFeatures> features) {
  c10::InferenceMode guard;
  const int64_t S = 96, K = 5;
  weights::StateDict ref = weights::load_safetensors(data_dir() / ("dcama_" + name + "_parity.safetensors"));
  fss::DCAMA net(std::move(features));
  fss::deterministic_init(net.named_tensors());
  at::Tensor q = fss::prepare_image(test::test_image(S, 0), S, S);
  std::vector<at::Tensor> imgs, masks;
  for (int64_t k = 1; k <= K; ++k) {
    imgs.push_back(fss::prepare_image(test::test_image(S, k), S, S));
    masks.push_back(fss::prepare_mask(test::ellipse_mask(S, k), S, S));
  }
  at::Tensor msk = at::cat(masks).unsqueeze(0);  // [1, K, S, S]

  // Backbone: every block's output (first 4 channels, and the mean over all channels).
  std::vector<at::Tensor> qf = net.features(q);
  double feat_worst = 0;
  for (size_t i = 0; i < qf.size(); ++i) {
    const at::Tensor& c4 = ref.at("qfeat" + std::to_string(i) + "_c4");
    const at::Tensor& cm = ref.at("qfeat" + std::to_string(i) + "_cmean");
    REQUIRE(qf[i].narrow(1, 0, 4).sizes() == c4.sizes());
    feat_worst = std::max(feat_worst, max_abs(qf[i].narrow(1, 0, 4) - c4) / max_abs(c4));
    feat_worst = std::max(feat_worst, max_abs(qf[i].mean(1) - cm) / max_abs(c4));
  }
  CHECK_FALSE(ref.contains("qfeat" + std::to_string(qf.size()) + "_c4"));
  WARN("DCAMA-" << name << ": " << qf.size() << " backbone features, max rel diff " << feat_worst);
  CHECK(feat_worst <= kFeatureRel);

  std::vector<std::vector<at::Tensor>> sf;
  for (int64_t k = 0; k < K; ++k) sf.push_back(net.features(imgs[size_t(k)]));
  for (int64_t shots : {int64_t(1), K}) {
    const std::string tag = std::to_string(shots) + "shot";
    std::vector<at::Tensor> coarse;
    std::vector<std::vector<at::Tensor>> s(sf.begin(), sf.begin() + shots);
    at::Tensor logits = net.forward_features(qf, s, msk.narrow(1, 0, shots), &coarse);
    // Attention blocks: every layer's coarse mask.
    std::vector<at::Tensor> parts;
    for (const auto& c : coarse) parts.push_back(c.flatten());
    at::Tensor flat = at::cat(parts);
    const at::Tensor& ref_coarse = ref.at("coarse_" + tag);
    REQUIRE(flat.sizes() == ref_coarse.sizes());
    const double coarse_diff = max_abs(flat - ref_coarse);
    // Whole forward.
    const at::Tensor& ref_logits = ref.at("logits_" + tag);
    REQUIRE(logits.sizes() == ref_logits.sizes());
    const double diff = max_abs(logits - ref_logits), scale = max_abs(ref_logits);
    WARN("DCAMA-" << name << " " << tag << ": coarse masks max-abs diff " << coarse_diff << "; logits max-abs diff "
                  << diff << " (max |logit| " << scale << ")");
    CHECK(coarse_diff <= kCoarseAbs);
    CHECK(diff <= kLogitAbs);
    CHECK(diff <= kLogitRel * scale);
    // Predictions: at the "original" query size 70 x 53 and at the input size.
    const at::Tensor orig = ref.at("pred_" + tag + "_orig");
    fss::DCAMAPrediction p = fss::dcama_predict(logits, {orig.size(0), orig.size(1)});
    const double d = p.mask[0].ne(orig).to(at::kFloat).mean().item<double>();
    CHECK(d <= kMaskFrac);
    CHECK(p.mask.eq((p.prob > 0.5).to(at::kByte)).to(at::kFloat).mean().item<double>() >= 1.0 - 1e-6);
    if (shots == K) {
      const at::Tensor full = ref.at("pred_5shot");
      CHECK(fss::dcama_predict(logits, {S, S}).mask[0].ne(full).to(at::kFloat).mean().item<double>() <= kMaskFrac);
    }
  }
}

}  // namespace

TEST_CASE("DCAMA-ResNet50 matches the official implementation at 96x96, 1 and 5 shots", "[dcama][parity][slow]") {
  check_parity("r50_S96", fss::make_dcama_resnet(fss::ResNetConfig::resnet50()));
}

TEST_CASE("DCAMA-Swin (reduced Swin-B) matches the official implementation at 96x96, 1 and 5 shots",
          "[dcama][parity][slow]") {
  check_parity("swin_small_S96", fss::make_dcama_swin(small_swin()));
}

TEST_CASE("DCAMA K shots: each batch item attends to its own supports only", "[dcama][kshot]") {
  c10::InferenceMode guard;
  fss::DCAMA net(fss::make_dcama_swin(small_swin()));
  fss::deterministic_init(net.named_tensors());
  const int64_t S = 96, K = 2;
  // Two queries, each with two shots.
  at::Tensor q = at::cat({fss::prepare_image(test::test_image(S, 0), S, S), fss::prepare_image(test::test_image(S, 6), S, S)});
  std::vector<at::Tensor> sup, msk;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t k = 0; k < K; ++k) {
      sup.push_back(fss::prepare_image(test::test_image(S, 1 + 2 * b + k), S, S));
      msk.push_back(fss::prepare_mask(test::ellipse_mask(S, 1 + 2 * b + k), S, S));
    }
  at::Tensor supports = at::cat(sup).view({2, K, 3, S, S}), masks = at::cat(msk).view({2, K, S, S});
  at::Tensor batched = net.forward(q, supports, masks);
  for (int64_t b = 0; b < 2; ++b) {
    at::Tensor single = net.forward(q.narrow(0, b, 1), supports.narrow(0, b, 1), masks.narrow(0, b, 1));
    INFO("batch item " << b);
    CHECK(max_abs(batched.narrow(0, b, 1) - single) <= 1e-4);
  }
  // Swapping the other item's supports must not change this item's logits.
  at::Tensor swapped = supports.clone();
  swapped[1] = supports[1].flip(0);
  at::Tensor masks_sw = masks.clone();
  masks_sw[1] = masks[1].flip(0);
  CHECK(max_abs(net.forward(q, swapped, masks_sw).narrow(0, 0, 1) - batched.narrow(0, 0, 1)) <= 1e-4);
}

TEST_CASE("DCAMA attention: slicing the scores changes nothing; values are the mask, averaged over heads",
          "[dcama]") {
  c10::InferenceMode guard;
  fss::DCAMALearner learner({1, 1, 1, 1}, {16, 32, 64, 128});
  std::vector<fss::NamedTensor> all = learner.named_tensors();
  fss::deterministic_init(all);
  fss::DCAMAAttention& a = learner.attention(0);
  at::Tensor q = at::randn({2, 30, 32}), k = at::randn({2, 45, 32}), m = at::rand({2, 45});
  at::Tensor whole = a.forward(q, k, m);
  // The official formula, all heads at once.
  auto heads = [](const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    return at::linear(x, w, b).view({x.size(0), x.size(1), 8, 4}).transpose(1, 2);
  };
  at::Tensor p = at::softmax(at::matmul(heads(q, a.wq, a.bq), heads(k, a.wk, a.bk).transpose(-2, -1)) / 2.0, -1);
  at::Tensor ref = at::matmul(p, m.view({2, 1, 45, 1})).mean(1).squeeze(-1);
  CHECK(max_abs(whole - ref) <= 1e-6);
  a.slice_elements = 100;  // 2 query rows per slice
  CHECK(max_abs(a.forward(q, k, m) - whole) <= 1e-7);
  // A constant mask passes through unchanged.
  CHECK(max_abs(a.forward(q, k, at::full({2, 45}, 0.25f)) - 0.25) <= 1e-6);
}

namespace {

// Official key -> shape of nn.DataParallel/DDP(DCAMA(backbone)).state_dict() (tests/data).
nlohmann::json official_layout() {
  std::ifstream f(data_dir() / "dcama_state_dict_keys.json");
  REQUIRE(f);
  return nlohmann::json::parse(f);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

TEST_CASE("The official DCAMA state dict keys map 1:1 onto the full-size models, without allocating",
          "[dcama][keys]") {
  const nlohmann::json j = official_layout();
  for (const auto& [json_name, ours_name, expect_keys] :
       {std::tuple{"resnet50", "resnet50", 407}, std::tuple{"resnet101", "resnet101", 713},
        std::tuple{"swin", "swin-b", 451}}) {
    SECTION(ours_name) {
      fss::ShapesOnly shapes_only;
      fss::DCAMA net(fss::make_dcama_features(ours_name, 384));
      auto all = net.named_tensors();
      CHECK(all.front().tensor->is_meta());
      auto ours = fss::shapes_of(all);
      const auto unused = net.unused_prefixes();
      auto derived = net.derived_suffixes();
      derived.push_back(".num_batches_tracked");
      const nlohmann::json& layout = j.at(json_name);
      CHECK(layout.size() == size_t(expect_keys));
      size_t matched = 0, ignored = 0;
      weights::StateDict sd("official-layout");
      for (auto it = layout.begin(); it != layout.end(); ++it) {
        const std::string key = it.key();
        REQUIRE(key.rfind("module.", 0) == 0);
        const std::vector<int64_t> shape = it->get<std::vector<int64_t>>();
        const std::string name = key.substr(7);
        bool is_ignored = false;
        for (const auto& u : unused) is_ignored |= name.rfind(u, 0) == 0;
        for (const auto& d : derived) is_ignored |= ends_with(name, d);
        INFO(key);
        if (is_ignored) {
          ++ignored;
          CHECK(ours.count(name) == 0);
        } else {
          REQUIRE(ours.count(name) == 1);
          CHECK(ours[name] == shape);
          ++matched;
        }
        sd.insert(key, shape.empty() ? at::zeros({}) : at::zeros({1}).expand(shape));  // zero-cost stand-in
      }
      CHECK(matched == ours.size());
      WARN("DCAMA-" << ours_name << ": " << matched << " official keys mapped onto the model, " << ignored
                    << " ignored (classifier head, num_batches_tracked, positional encodings, derived buffers)");
      // The loader's rules accept exactly that layout (slots keep the stored stand-ins: nothing is copied).
      std::vector<at::Tensor> sink(all.size());
      std::vector<weights::Slot> slots;
      for (size_t i = 0; i < all.size(); ++i) {
        weights::Slot s{all[i].name, &sink[i]};
        s.shape = all[i].tensor->sizes().vec();
        s.keep_stored = true;
        slots.push_back(std::move(s));
      }
      weights::BindOptions o = fss::bind_options(unused);
      for (const auto& d : net.derived_suffixes()) o.keys.ignore_suffixes.push_back(d);
      auto rep = weights::bind_state_dict(sd, slots, o);
      CHECK(rep.ok());
      CHECK(rep.bound.size() == matched);
      CHECK(rep.ignored.size() == ignored);
    }
  }
}

TEST_CASE("A DCAMA state dict with a wrong shape or a missing key is refused, naming the file and key", "[dcama][keys]") {
  fss::DCAMA net(fss::make_dcama_swin(small_swin()));
  weights::StateDict sd("bad.pt");
  for (auto& nt : net.named_tensors()) sd.insert("module." + nt.name, at::zeros_like(*nt.tensor));
  sd.insert("module.model.mixer3.2.weight", at::zeros({3, 16, 3, 3}));
  sd.erase("module.feature_extractor.layers.1.blocks.0.attn.relative_position_bias_table");
  try {
    weights::bind_state_dict(sd, fss::slots_of(net.named_tensors()), fss::bind_options(net.unused_prefixes()));
    FAIL("no exception");
  } catch (const weights::WeightError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("bad.pt") != std::string::npos);
    CHECK(msg.find("feature_extractor.layers.1.blocks.0.attn.relative_position_bias_table") != std::string::npos);
    CHECK(msg.find("model.mixer3.2.weight: checkpoint [3, 16, 3, 3] vs model [2, 16, 3, 3]") != std::string::npos);
  }
}

TEST_CASE("DCAMA positional encoding and Swin validation", "[dcama]") {
  at::Tensor pe = fss::dcama_positional_encoding(5, 8);
  CHECK(pe.sizes() == at::IntArrayRef({5, 8}));
  CHECK(pe[0][0].item<float>() == 0.0f);
  CHECK(pe[0][1].item<float>() == 1.0f);
  CHECK(pe[3][2].item<float>() == Approx(std::sin(3.0 * std::exp(-2.0 * std::log(10000.0) / 8.0))).epsilon(1e-6));
  fss::SwinConfig c = fss::SwinConfig::swin_base_384();
  c.img_size = 400;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("do not tile"));
  CHECK_THROWS_WITH(fss::make_dcama_features("vgg16"), Catch::Contains("expected resnet50, resnet101 or swin-b"));
}
