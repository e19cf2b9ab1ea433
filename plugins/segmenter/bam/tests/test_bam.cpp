// BAM: parity with the official implementation (random deterministic weights, 1 and 5 shots),
// the official parameter table, published-format checkpoints, BAM's input handling.
#include "catch_torch.hpp"
#include "shared_data.hpp"
#include "test_inputs.hpp"
#include "parity_compare.hpp"
#include "builders.hpp"

#include <difss/fss/bam.hpp>
#include <difss/fss/checkpoint.hpp>
#include <difss/fss/pspnet_input.hpp>
#include <difss/weights/error.hpp>
#include <difss/weights/load.hpp>

#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace difss;

namespace {

fs::path data_dir() { return test::source_dir() / "plugins/segmenter/bam/tests/data"; }

nlohmann::json official_keys() {
  std::ifstream f(data_dir() / "bam_state_dict_keys.json");
  REQUIRE(f);
  return nlohmann::json::parse(f);
}

bool is_counter(const std::string& k) {
  return k.size() > 20 && k.compare(k.size() - 20, 20, ".num_batches_tracked") == 0;
}

void compare(const std::string& what, const at::Tensor& ours, const at::Tensor& ref, double tol, double* worst) {
  test::compare_parity("BAM", what, ours, ref, tol, worst);
}

void check_parity(int64_t K, bool as_engine) {
  c10::InferenceMode guard;
  const int64_t S = 97;
  weights::StateDict ref = weights::load_safetensors(data_dir() / ("bam_parity_S97_K" + std::to_string(K) + ".safetensors"));
  fss::BAM net(K);
  fss::deterministic_init(net.named_tensors());
  // as_engine: as the engines run it (channels-last weights, BatchNorms folded, oneDNN-packed).
  if (as_engine) net.to(at::kCPU, at::kFloat);
  // Square test images need no resize: only BAM's normalisation applies.
  at::Tensor q = fss::stretch_image(test::test_image(S, 0), S, S);
  std::vector<at::Tensor> imgs, masks;
  for (int64_t k = 1; k <= K; ++k) {
    imgs.push_back(fss::stretch_image(test::test_image(S, k), S, S));
    masks.push_back(test::ellipse_mask(S, k).to(at::kFloat).unsqueeze(0));
  }
  fss::BAMTrace t;
  fss::BAMOutput out = net.forward(q, at::cat(imgs).unsqueeze(0), at::cat(masks).unsqueeze(0), &t);
  double worst = 0;
  // Trunk (fp32 through 50 layers with values up to ~130: relative tolerance).
  compare("query layer4 [:8]", t.query_layer4[0].narrow(0, 0, 8), ref.at("q_layer4_c8"), 1e-4, &worst);
  compare("query layer4 channel means", t.query_layer4[0].mean({1, 2}), ref.at("q_layer4_mean"), 1e-4, &worst);
  compare("support layer4 channel means (masked)", t.support_layer4.mean({2, 3}), ref.at("s_layer4_mean"), 1e-4, &worst);
  compare("down_query [:8]", t.query_feat[0].narrow(0, 0, 8), ref.at("down_query_c8"), 1e-4, &worst);
  compare("down_supp [:4]", t.support_feat.narrow(1, 0, 4), ref.at("down_supp_c4"), 1e-4, &worst);
  compare("base learner logits", t.base_logits[0], ref.at("base_logits"), 1e-4, &worst);
  // Gram distances, shot weights, prior, prototype.
  compare("Gram distance per shot", t.est_shots[0], ref.at("est_shots"), 1e-4, &worst);
  compare("weighted Gram distance", t.est_val, ref.at("est_val"), 1e-5, &worst);  // measured 1.3e-7
  compare("prior mask", t.prior[0][0], ref.at("prior"), 1e-4, &worst);
  compare("support prototype", t.prototype[0].flatten(), ref.at("supp_pro"), 1e-4, &worst);
  // Meta learner and ensemble.
  compare("init_merge [:8]", t.merge_feat[0].narrow(0, 0, 8), ref.at("init_merge_c8"), 1e-4, &worst);
  compare("meta learner logits", t.meta_logits[0], ref.at("meta_logits"), 1e-4, &worst);
  compare("ensemble at feature size", t.final_feat[0], ref.at("final_at_feat"), 1e-4, &worst);
  compare("whole forward: final_out", out.final_out[0], ref.at("final_out"), 1e-4, &worst);
  const at::Tensor r = ref.at("final_out");
  const double disagree = out.final_out[0].argmax(0).ne(r.argmax(0)).to(at::kFloat).mean().item<double>();
  WARN("BAM parity " << K << "-shot" << (as_engine ? " (engine layout)" : "") << ": worst relative diff " << worst << ", argmax disagreement " << disagree);
  CHECK(disagree <= 1e-3);
  if (K > 1) {  // the weights are a softmax over the shots, in shot order
    CHECK(t.weight_soft.sum().item<double>() == Approx(1.0));
    CHECK(t.weight_soft.argmax(1).item<int64_t>() != t.weight_soft.argmin(1).item<int64_t>());
  }
}

}  // namespace

TEST_CASE("BAM matches the official implementation, 1 shot (97x97, random weights)", "[bam][parity][slow]") {
  for (bool as_engine : {false, true}) {
    INFO("as the engine runs it: " << as_engine);
    check_parity(1, as_engine);
  }
}

TEST_CASE("BAM matches the official implementation, 5 shots with kshot_rw (97x97)", "[bam][parity][slow]") {
  for (bool as_engine : {false, true}) {
    INFO("as the engine runs it: " << as_engine);
    check_parity(5, as_engine);
  }
}

TEST_CASE("The supports' layer4 computed inside the mask equals the full layer4 there", "[bam][prior][slow]") {
  c10::InferenceMode guard;
  fss::BAM net(1);
  fss::deterministic_init(net.named_tensors());
  for (bool as_engine : {false, true}) {
    INFO("as the engine runs it: " << as_engine);
    if (as_engine) net.to(at::kCPU, at::kFloat);
    at::Generator gen = at::detail::createCPUGenerator(7);
    at::Tensor x = at::rand({3, 1024, 40, 40}, gen).contiguous(as_engine ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
    at::Tensor mask = at::zeros({3, 1, 40, 40});
    mask[0][0].narrow(0, 5, 7).narrow(1, 20, 10).fill_(0.7);  // inside: cut on all four sides
    mask[1][0].narrow(0, 30, 10).narrow(1, 0, 8).fill_(1.0);  // at the image's corner
    // image 2: an empty mask (computed whole)
    const at::Tensor full = net.trunk().layer(4, x);
    const at::Tensor part = net.trunk().layer4_inside(x, mask);
    REQUIRE(part.sizes() == full.sizes());
    const at::Tensor inside = mask.ne(0).expand_as(full);
    const double scale = std::max(1.0, full.abs().max().item<double>());
    CHECK(((full - part) * inside).abs().max().item<double>() <= 1e-4 * scale);
    CHECK(part[2].sub(full[2]).abs().max().item<double>() <= 1e-4 * scale);
    // the cut happened: far from the first mask the result is 0, where layer4 is not
    CHECK(part[0].select(1, 39).select(1, 0).abs().max().item<double>() == 0.0);
    CHECK(full[0].select(1, 39).select(1, 0).abs().max().item<double>() > 0.0);
  }
}

TEST_CASE("BAM's full-size parameter table equals the official state dict (no allocation)", "[bam][keys]") {
  nlohmann::json j = official_keys();
  struct Case {
    const char* name;
    int64_t shots, classes;
  };
  for (const Case c : {Case{"pascal_1shot", 1, 16}, Case{"pascal_5shot", 5, 16}, Case{"coco_1shot", 1, 61}}) {
    SECTION(c.name) {
      fss::BAM net(c.shots, c.classes, 2, at::kMeta);
      const auto named = net.named_tensors();
      for (const auto& nt : named) CHECK(nt.tensor->is_meta());
      auto ours = fss::shapes_of(named);
      size_t matched = 0, counters = 0;
      weights::StateDict sd("official-layout");
      for (auto it = j[c.name].begin(); it != j[c.name].end(); ++it) {
        const std::string key = it.key();
        const auto shape = it->get<std::vector<int64_t>>();
        if (is_counter(key)) {
          ++counters;
          CHECK(ours.count(key) == 0);
        } else {
          INFO(key);
          REQUIRE(ours.count(key) == 1);
          CHECK(ours[key] == shape);
          ++matched;
        }
      }
      CHECK(matched == ours.size());
      WARN("BAM " << c.name << ": " << matched << " official tensors = the model's, " << counters
                  << " num_batches_tracked ignored");
    }
  }
}

TEST_CASE("A published-format checkpoint written by torch reads: module. keys, optimizer skipped", "[bam][checkpoint]") {
  // torch 1.13's torch.save (zip and legacy) of {'epoch': 42, 'state_dict': {'module.' + key},
  // 'optimizer': SGD state dict with momentum buffers} for the 5-shot model's gram_merge,
  // cls_merge and kshot_rw (deterministic_init values): the whole layout at a few KB.
  for (const char* file : {"bam_format_ckpt_5shot.pth", "bam_format_ckpt_5shot_legacy.pth"}) {
    SECTION(file) {
      const fs::path path = data_dir() / file;
      weights::CheckpointIndex idx = weights::inspect(path);
      CHECK(idx.entry == "state_dict");
      CHECK(idx.tensors.size() == 6);
      CHECK(idx.skipped_tensors == 6);  // the optimizer's momentum buffers: indexed nowhere, never read
      bool epoch = false;
      for (const auto& [k, v] : idx.extras) epoch |= k == "epoch" && std::get_if<int64_t>(&v) && std::get<int64_t>(v) == 42;
      CHECK(epoch);
      fss::BAM net(5, 16, 2, at::kMeta);
      std::vector<fss::NamedTensor> small, expect;
      for (const auto& nt : net.named_tensors())
        if (nt.name.rfind("gram_merge", 0) == 0 || nt.name.rfind("cls_merge", 0) == 0 || nt.name.rfind("kshot_rw", 0) == 0)
          small.push_back(nt);
      for (auto& nt : small) *nt.tensor = at::zeros(nt.tensor->sizes());
      std::vector<at::Tensor> want(small.size());
      for (size_t i = 0; i < small.size(); ++i) {
        want[i] = at::zeros(small[i].tensor->sizes());
        expect.push_back({small[i].name, &want[i]});
      }
      fss::deterministic_init(expect);
      weights::BindReport rep = fss::load_into(small, path.string(), fss::bind_options({}));
      CHECK(rep.ok());
      CHECK(rep.bound.size() == 6);
      for (size_t i = 0; i < small.size(); ++i) CHECK(at::equal(*small[i].tensor, want[i]));
    }
  }
}

TEST_CASE("A full-size BAM checkpoint with optimizer state and module. keys loads into the model", "[bam][checkpoint][slow]") {
  // Written here with the byte builders of the weights tests (independent of the reader): the
  // 5-shot model's every tensor under 'module.', a constant per tensor, plus an SGD optimizer state
  // for the meta learner's parameters, as BAM's train.py saves it.
  fss::BAM net(5);
  auto named = net.named_tensors();
  namespace wt = weights::test;
  wt::Pickle p;
  p.proto().empty_dict().mark();
  p.str("epoch").int1(42);
  p.str("state_dict").global("collections", "OrderedDict").empty_tuple().reduce().mark();
  std::vector<std::pair<std::string, wt::Bytes>> storages;
  auto add_tensor = [&](const at::Tensor& shape_of, float value) {
    const std::string key = std::to_string(storages.size());
    std::vector<int64_t> strides(size_t(shape_of.dim()), 1);
    for (int64_t d = shape_of.dim() - 2; d >= 0; --d) strides[size_t(d)] = strides[size_t(d) + 1] * shape_of.size(d + 1);
    p.tensor("FloatStorage", key, shape_of.numel(), 0, shape_of.sizes().vec(), strides);
    storages.emplace_back(key, wt::floats(std::vector<float>(size_t(shape_of.numel()), value)));
  };
  for (size_t i = 0; i < named.size(); ++i) {
    p.str("module." + named[i].name);
    add_tensor(*named[i].tensor, float(i % 251) / 16.0f);
  }
  p.setitems();
  // 'optimizer': {'state': {j: {'momentum_buffer': T}}, 'param_groups': [{'lr', 'momentum', 'params'}]}
  p.str("optimizer").empty_dict().mark().str("state").empty_dict().mark();
  std::vector<size_t> meta;
  for (size_t i = 0; i < named.size(); ++i)
    if (named[i].name.rfind("layer", 0) != 0 && named[i].name.rfind("learner_base", 0) != 0) meta.push_back(i);
  for (size_t j = 0; j < meta.size(); ++j) {
    p.int4(int32_t(j)).empty_dict().mark().str("momentum_buffer");
    add_tensor(*named[meta[j]].tensor, -1.0f);
    p.setitems();
  }
  p.setitems().str("param_groups").empty_list().mark().empty_dict().mark();
  p.str("lr").op('G').raw(std::string("\x3f\x74\x7a\xe1\x47\xae\x14\x7b", 8));  // BINFLOAT 0.005
  p.str("momentum").op('G').raw(std::string("\x3f\xec\xcc\xcc\xcc\xcc\xcc\xcd", 8));
  p.str("params").empty_list().mark();
  for (size_t j = 0; j < meta.size(); ++j) p.int4(int32_t(j));
  p.appends().setitems().appends().setitems().setitems().stop();
  const fs::path path = fs::temp_directory_path() / "difss_test_bam_full_ckpt.pth";
  wt::write_file(path, wt::torch_zip(p.b, storages));
  storages.clear();

  for (auto& nt : named) nt.tensor->zero_();
  weights::BindReport rep = fss::load_into(named, path.string(), fss::bind_options({}));
  fs::remove(path);
  CHECK(rep.ok());
  CHECK(rep.bound.size() == named.size());
  CHECK(rep.ignored.size() == 0);
  for (size_t i = 0; i < named.size(); ++i) {
    INFO(named[i].name);
    CHECK(named[i].tensor->min().item<float>() == float(i % 251) / 16.0f);
    CHECK(named[i].tensor->max().item<float>() == float(i % 251) / 16.0f);
  }
}

TEST_CASE("A truncated BAM checkpoint is refused, naming the file", "[bam][checkpoint]") {
  const fs::path src = data_dir() / "bam_format_ckpt_5shot.pth";
  const fs::path cut = fs::temp_directory_path() / "difss_test_bam_truncated.pth";
  {
    std::ifstream in(src, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(bytes.size() > 1000);
    std::ofstream out(cut, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size() * 2 / 3));
  }
  fss::BAM net(5, 16, 2, at::kMeta);
  try {
    fss::load_into(net.named_tensors(), cut.string(), fss::bind_options({}));
    FAIL("a truncated file loaded");
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("difss_test_bam_truncated.pth") != std::string::npos);
  }
  fs::remove(cut);
}

TEST_CASE("A checkpoint for another K or dataset is refused, naming the keys", "[bam][checkpoint]") {
  // The 5-shot file's merges + kshot_rw into a 1-shot model's merges: kshot_rw is unused.
  fss::BAM one(1, 16, 2, at::kMeta);
  std::vector<fss::NamedTensor> merges;
  for (const auto& nt : one.named_tensors())
    if (nt.name.find("_merge") != std::string::npos && nt.name.rfind("init_merge", 0) != 0) merges.push_back(nt);
  REQUIRE(merges.size() == 2);
  try {
    fss::load_into(merges, (data_dir() / "bam_format_ckpt_5shot.pth").string(), fss::bind_options({}));
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("bam_format_ckpt_5shot.pth") != std::string::npos);
    CHECK(std::string(e.what()).find("kshot_rw.0.weight") != std::string::npos);
  }
  // A PASCAL state dict into a COCO model: the base learner's classifier has 61 outputs, not 16.
  fss::BAM pascal(1, 16, 2, at::kMeta), coco(1, 61, 2, at::kMeta);
  weights::StateDict sd("pascal.pth");
  for (const auto& nt : pascal.named_tensors()) sd.insert("module." + nt.name, at::zeros({1}).expand(nt.tensor->sizes()));
  try {
    weights::bind_state_dict(sd, fss::slots_of(coco.named_tensors()), fss::bind_options({}));
    FAIL("no exception");
  } catch (const weights::WeightError& e) {
    CHECK(std::string(e.what()).find("learner_base.1.4.weight: checkpoint [16, 512, 1, 1] vs model [61, 512, 1, 1]") !=
          std::string::npos);
  }
}

TEST_CASE("BAM's evaluation resize: longer side to the size, multiples of 8, top-left padding", "[bam][prep]") {
  CHECK(fss::letterbox_size(375, 500, 473).h == 352);  // int(375 * 473 / 500) = 354 -> 352
  CHECK(fss::letterbox_size(375, 500, 473).w == 472);  // 473 -> 472
  CHECK(fss::letterbox_size(500, 333, 473).h == 472);
  CHECK(fss::letterbox_size(500, 333, 473).w == 312);  // int(333 * 0.946) = 315 -> 312
  CHECK(fss::letterbox_size(100, 100, 641).h == 640);  // small images are enlarged
  at::Tensor img = at::full({60, 80, 3}, 200, at::kByte);
  at::Tensor x = fss::letterbox_image(img, 97);  // content 72 x 96
  CHECK(x.sizes() == at::IntArrayRef({1, 3, 97, 97}));
  CHECK(x[0][0][0][0].item<float>() == Approx((200 - 0.485 * 255) / (0.229 * 255)));
  CHECK(x[0][0][71][95].item<float>() == Approx((200 - 0.485 * 255) / (0.229 * 255)));
  CHECK(x[0][0][72][0].item<float>() == Approx(-0.485 / 0.229));  // zero padding, normalised
  CHECK(x[0][2][0][96].item<float>() == Approx(-0.406 / 0.225));
  at::Tensor m = fss::letterbox_mask(at::ones({60, 80}, at::kByte), 97);
  CHECK(m[0][71][95].item<float>() == 1.0f);
  CHECK(m[0][72][0].item<float>() == 255.0f);
  // Back to the original size: the 97 x 97 map resized to 80 x 80, top-left 60 x 80.
  at::Tensor logits = at::arange(2 * 97 * 97, at::kFloat).view({1, 2, 97, 97});
  at::Tensor o = fss::letterbox_to_original(logits, 60, 80);
  CHECK(o.sizes() == at::IntArrayRef({1, 2, 60, 80}));
  CHECK(o[0][0][0][0].item<float>() == 0.0f);
  CHECK(o[0][0][0][79].item<float>() == Approx(96.0));
}
