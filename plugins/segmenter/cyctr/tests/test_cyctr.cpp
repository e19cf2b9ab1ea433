// CyCTR: parity with the official implementation (random deterministic weights, 1 and 5 shots),
// the official parameter table, the sparse sampling's draws against the official code's, and the
// engine's two sampling modes.
#include "catch_torch.hpp"
#include "shared_data.hpp"
#include "test_inputs.hpp"
#include "parity_compare.hpp"

#include <difss/fss/checkpoint.hpp>
#include <difss/fss/cyctr.hpp>
#include <difss/fss/cyctr_engine.hpp>
#include <difss/fss/pspnet_input.hpp>
#include <difss/weights/load.hpp>
#include <difss/weights/save.hpp>

#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace difss;

namespace {

fs::path data_dir() { return test::source_dir() / "plugins/segmenter/cyctr/tests/data"; }

void compare(const std::string& what, const at::Tensor& ours, const at::Tensor& ref, double tol, double* worst) {
  test::compare_parity("CyCTR", what, ours, ref, tol, worst);
}

struct ParityInputs {
  at::Tensor q, sx, sy, pad, s_pad;
};

// tests/data/README.md: the test images, a band of 255 rows in each support label, the query's
// bottom rows as letterbox padding.
ParityInputs parity_inputs(int64_t S, int64_t K) {
  ParityInputs in;
  in.q = fss::stretch_image(test::test_image(S, 0), S, S);
  std::vector<at::Tensor> imgs, masks;
  for (int64_t k = 1; k <= K; ++k) {
    imgs.push_back(fss::stretch_image(test::test_image(S, k), S, S));
    at::Tensor m = test::ellipse_mask(S, k).to(at::kFloat);
    m.narrow(0, 80 + 2 * (k - 1), 4).fill_(255);
    masks.push_back(m.unsqueeze(0));
  }
  in.sx = at::cat(imgs).unsqueeze(0);
  in.sy = at::cat(masks).unsqueeze(0);
  in.pad = at::zeros({1, S, S});
  in.pad.narrow(1, 89, S - 89).fill_(255);
  in.s_pad = in.sy.eq(255).to(at::kFloat) * 255;
  return in;
}

void check_parity(int64_t K, int64_t per_shot, const std::string& file) {
  c10::InferenceMode guard;
  const int64_t S = 97;
  weights::StateDict ref = weights::load_safetensors(data_dir() / file);
  fss::CyCTR net(K, 256, at::kCPU, per_shot);
  fss::deterministic_init(net.named_tensors());
  net.to(at::kCPU, at::kFloat);  // as the engine runs it: channels-last weights, BatchNorms folded
  ParityInputs in = parity_inputs(S, K);
  fss::CyCTRTrace t;
  at::Tensor out = net.forward(in.q, in.sx, in.sy, in.pad, in.s_pad, fss::seeded_cpu_generator(123), &t);
  // The draws: exactly the official ones (which tokens, and the labels / ignore flags read for them).
  const fss::SparseSample& s = t.transformer.sample;
  CHECK(at::equal(s.fg[0], ref.at("sample_fg")));
  CHECK(at::equal(s.ignore[0], ref.at("sample_ignore")));
  double worst = 0;
  compare("sampled tokens (row sums)", s.tokens[0].sum(-1), ref.at("sample_rowsum"), 1e-4, &worst);
  compare("query layer4 channel means", t.query_layer4[0].mean({1, 2}), ref.at("query_layer4_mean"), 1e-4, &worst);
  compare("adjust_feature_qry [:8]", t.query_feat[0].narrow(0, 0, 8), ref.at("query_feat_c8"), 1e-4, &worst);
  compare("adjust_feature_supp channel means", t.support_feat.mean({2, 3}), ref.at("support_feat_mean"), 1e-4, &worst);
  compare("prototype", t.prototype[0].flatten(), ref.at("prototype"), 1e-4, &worst);
  compare("prior mask", t.prior[0][0], ref.at("prior"), 1e-4, &worst);
  compare("qry_merge_feat [:8]", t.merged_query[0].narrow(0, 0, 8), ref.at("merged_query_c8"), 1e-4, &worst);
  compare("supp_merge_feat channel means", t.merged_support.mean({2, 3}), ref.at("merged_support_mean"), 1e-4, &worst);
  compare("transformer output [:8]", t.transformer_out[0].narrow(0, 0, 8), ref.at("transformer_out_c8"), 1e-4, &worst);
  compare("transformer output channel means", t.transformer_out[0].mean({1, 2}), ref.at("transformer_out_mean"), 1e-4, &worst);
  compare("cls logits at the feature size", t.logits_at_feat[0], ref.at("logits_at_feat"), 1e-4, &worst);
  compare("whole forward (logits at 97x97)", out[0], ref.at("final_out"), 1e-4, &worst);
  const at::Tensor r = ref.at("final_out");
  const double disagree = out[0].argmax(0).ne(r.argmax(0)).to(at::kFloat).mean().item<double>();
  WARN("CyCTR parity " << K << "-shot: worst relative diff " << worst << ", argmax disagreement " << disagree);
  CHECK(disagree <= 1e-3);
}

bool is_training_only(const std::string& key) {
  for (const std::string& p : fss::CyCTR::training_only_prefixes())
    if (key.rfind(p, 0) == 0) return true;
  return false;
}

}  // namespace

TEST_CASE("CyCTR matches the official implementation, 1 shot (97x97, random weights, 300 + 300 tokens)",
          "[cyctr][parity][slow]") {
  check_parity(1, 300, "cyctr_parity_S97_K1.safetensors");
}

TEST_CASE("CyCTR matches the official implementation, 5 shots (97x97, 30 + 30 tokens per shot)", "[cyctr][parity][slow]") {
  check_parity(5, 30, "cyctr_parity_S97_K5_n30.safetensors");
}

TEST_CASE("CyCTR's full-size parameter table equals the official state dict (no allocation)", "[cyctr][keys]") {
  std::ifstream f(data_dir() / "cyctr_state_dict_keys.json");
  REQUIRE(f);
  const nlohmann::json j = nlohmann::json::parse(f);
  for (const auto& [name, shots] : {std::pair<std::string, int64_t>{"pascal_1shot", 1}, {"pascal_5shot", 5}}) {
    SECTION(name) {
      fss::CyCTR net(shots, 256, at::kMeta);
      const auto named = net.named_tensors();
      for (const auto& nt : named) CHECK(nt.tensor->is_meta());
      auto ours = fss::shapes_of(named);
      size_t matched = 0, training_only = 0;
      for (auto it = j[name].begin(); it != j[name].end(); ++it) {
        const std::string key = it.key();
        if (is_training_only(key)) {
          ++training_only;
          CHECK(ours.count(key) == 0);
          continue;
        }
        INFO(key);
        REQUIRE(ours.count(key) == 1);
        CHECK(ours[key] == it->get<std::vector<int64_t>>());
        ++matched;
      }
      CHECK(matched == ours.size());
      CHECK(training_only == 9);
      WARN("CyCTR " << name << ": " << matched << " official tensors = the model's, " << training_only
                    << " training-only head tensors ignored");
    }
  }
}

TEST_CASE("The sparse sampling draws exactly what the official code draws after torch.manual_seed", "[cyctr][sampling]") {
  weights::StateDict ref = weights::load_safetensors(data_dir() / "cyctr_sampling.safetensors");
  const int64_t N = 200;
  at::Tensor idx = at::arange(N, at::kFloat);
  at::Tensor tokens = at::stack({idx, -idx}, -1).unsqueeze(0).repeat({2, 1, 1});
  const at::Tensor ignore = ref.at("ignore");
  for (uint64_t seed : {123u, 5u}) {
    at::Generator gen = fss::seeded_cpu_generator(seed);  // one generator, three calls in a row
    for (const std::string c : {"few_fg", "few_bg", "both"}) {
      INFO("seed " << seed << ", " << c);
      const std::string p = "s" + std::to_string(seed) + "_" + c;
      fss::SparseSample s = fss::sparse_sampling(tokens, ref.at("mask_" + c), ignore, 30, 30, gen);
      CHECK(at::equal(s.tokens.select(2, 0).to(at::kLong), ref.at(p + "_index")));
      CHECK(at::equal(s.index, ref.at(p + "_index")));
      CHECK(at::equal(s.fg, ref.at(p + "_fg")));
      CHECK(at::equal(s.ignore, ref.at(p + "_ignore")));
    }
  }
  // torch.manual_seed(123); torch.randperm(3000)[:600]: the draw of a 60x60 one-shot map.
  CHECK(at::equal(at::randperm(3000, fss::seeded_cpu_generator(123), at::kLong).narrow(0, 0, 600),
                  ref.at("randperm_3000_after_123")));
}

namespace {

std::vector<fss::Shot> episode_shots(int64_t S, int64_t K, int64_t offset) {
  std::vector<fss::Shot> shots;
  for (int64_t k = 1; k <= K; ++k) shots.push_back({test::test_image(S, k + offset), test::ellipse_mask(S, k + offset)});
  return shots;
}

}  // namespace

TEST_CASE("CyCTR engine: episode sampling is a function of the episode; fidelity continues one draw sequence",
          "[cyctr][sampling][slow]") {
  fss::CyCTRConfig c;
  c.test_weights = true;
  c.image_size = 65;
  c.per_shot = 20;  // fewer tokens than the 64 of each kind: the draws matter
  const at::Tensor qa = test::test_image(64, 0), qb = test::test_image(64, 7);
  const auto sa = episode_shots(64, 1, 0), sb = episode_shots(64, 1, 3);

  auto episode = fss::make_cyctr_engine(c);
  const at::Tensor b_alone = episode->segment(qb, sb).prob;
  episode->segment(qa, sa);
  CHECK(at::equal(episode->segment(qb, sb).prob, b_alone));  // the same after another episode
  // Another seed draws other tokens: the prediction changes.
  c.seed = 124;
  CHECK_FALSE(at::equal(fss::make_cyctr_engine(c)->segment(qb, sb).prob, b_alone));

  c.seed = 123;
  c.sampling = fss::SamplingMode::fidelity;
  auto fid = fss::make_cyctr_engine(c);
  const at::Tensor a1 = fid->segment(qa, sa).prob, b2 = fid->segment(qb, sb).prob;
  auto fid2 = fss::make_cyctr_engine(c);
  CHECK(at::equal(fid2->segment(qa, sa).prob, a1));
  CHECK(at::equal(fid2->segment(qb, sb).prob, b2));
  // The second call drew after the first: it differs from B drawn first.
  auto fid3 = fss::make_cyctr_engine(c);
  CHECK_FALSE(at::equal(fid3->segment(qb, sb).prob, b2));
}

TEST_CASE("CyCTR engine: resnet50_v2.pth (conv1 ... layer4, fc) supplies backbone.body.*", "[cyctr][checkpoint][slow]") {
  // A resnet50_v2-layout file written here: the backbone of a model with seed-5 weights, plus an fc.
  fss::CyCTR src(1);
  std::vector<fss::NamedTensor> named = src.named_tensors();
  fss::deterministic_init(named, 5);
  weights::StateDict sd("resnet50_v2");
  size_t body = 0;
  for (const auto& nt : named)
    if (nt.name.rfind("backbone.body.", 0) == 0) {
      sd.insert(nt.name.substr(14), *nt.tensor);
      ++body;
    }
  sd.insert("fc.weight", at::zeros({1000, 2048}));
  sd.insert("fc.bias", at::zeros({1000}));
  const fs::path file = fs::temp_directory_path() / "difss_test_cyctr_resnet50_v2.safetensors";
  weights::save_safetensors(file, sd);
  fss::CyCTRConfig c;
  c.test_weights = true;  // everything else: the seed-0 test weights
  c.backbone = file.string();
  auto engine = fss::make_cyctr_engine(c);
  fs::remove(file);
  fss::CyCTR ref(1);
  std::vector<fss::NamedTensor> ref_named = ref.named_tensors();
  fss::deterministic_init(ref_named);
  std::vector<fss::NamedTensor> got = engine->net().named_tensors();
  REQUIRE(got.size() == named.size());
  size_t from_file = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    INFO(got[i].name);
    const bool in_body = got[i].name.rfind("backbone.body.", 0) == 0;
    CHECK(at::equal(got[i].tensor->contiguous(), (in_body ? named[i] : ref_named[i]).tensor->contiguous()));
    from_file += in_body;
  }
  CHECK(from_file == body);
  CHECK(body == 275);  // the official table's backbone.body.* (FrozenBatchNorm2d: no counters)
  c.backbone = "/nonexistent/resnet50_v2.pth";
  CHECK_THROWS_WITH(fss::make_cyctr_engine(c), Catch::Contains("/nonexistent/resnet50_v2.pth"));
}

TEST_CASE("A published-format CyCTR checkpoint reads: module. keys, training-only heads and optimizer skipped",
          "[cyctr][checkpoint]") {
  // torch 1.13's torch.save of {'epoch': 200, 'state_dict': {'module.' + key}, 'optimizer': SGD
  // state after one step} for five small inference tensors and one of the supp_cls head
  // (deterministic_init values; tests/data/README.md).
  const fs::path path = data_dir() / "cyctr_format_ckpt.pth";
  fss::CyCTR net(1, 256, at::kMeta);
  const std::vector<std::string> names{"cls.3.weight", "cls.3.bias", "transformer.level_embed",
                                       "transformer.layer_norms.0.weight", "transformer.layer_norms.0.bias"};
  std::vector<fss::NamedTensor> small;
  for (const auto& nt : net.named_tensors())
    for (const auto& n : names)
      if (nt.name == n) small.push_back(nt);
  REQUIRE(small.size() == names.size());
  std::vector<at::Tensor> want(small.size());
  std::vector<fss::NamedTensor> expect;
  for (size_t i = 0; i < small.size(); ++i) {
    *small[i].tensor = at::zeros(small[i].tensor->sizes());
    want[i] = at::zeros(small[i].tensor->sizes());
    expect.push_back({small[i].name, &want[i]});
  }
  fss::deterministic_init(expect);
  weights::BindReport rep = fss::load_into(small, path.string(), fss::bind_options(fss::CyCTR::training_only_prefixes()));
  CHECK(rep.ok());
  CHECK(rep.bound.size() == names.size());
  REQUIRE(rep.ignored.size() == 1);
  CHECK(rep.ignored[0].find("supp_cls.3.bias") != std::string::npos);
  for (size_t i = 0; i < small.size(); ++i) CHECK(at::equal(*small[i].tensor, want[i]));
}
