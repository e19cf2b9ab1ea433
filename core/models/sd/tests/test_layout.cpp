// The full-size definition against the official key layout (shared/ref/cldm_v15_state_dict_keys.json,
// every key and shape of control_sd15_*.pth), without allocating the 5.7 GB; and loading of
// official-layout files (bundle; control-only + base) with the configuration inferred from shapes.
#include "catch_torch.hpp"

#include <c10/core/InferenceMode.h>

#include <ATen/CPUGeneratorImpl.h>
#include <difss/sd/loading.hpp>
#include <difss/sd/sampling.hpp>
#include <difss/weights/load.hpp>
#include <difss/weights/save.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>

#include "shared_data.hpp"

using namespace difss::sd;

namespace {

std::map<std::string, std::vector<int64_t>> official_keys() {
  std::ifstream f(difss::test::shared_dir() / "ref/cldm_v15_state_dict_keys.json");
  nlohmann::json j = nlohmann::json::parse(f);
  std::map<std::string, std::vector<int64_t>> m;
  for (auto it = j.begin(); it != j.end(); ++it) m[it.key()] = it.value().get<std::vector<int64_t>>();
  return m;
}

std::string tmp(const std::string& name) {
  return (std::filesystem::path(DIFSS_BINARY_DIR) / ("sd_test_" + name)).string();
}

}  // namespace

TEST_CASE("layout: every official key maps to a parameter of that shape, none left over",
          "[sd][layout][shared]") {
  DIFSS_REQUIRE_SHARED("ref/cldm_v15_state_dict_keys.json");
  const auto official = official_keys();
  REQUIRE(official.size() == 1483);
  const std::vector<ParamSpec> table = parameter_table(ModelConfig::sd15());
  std::map<std::string, ParamSpec> ours;
  for (const auto& p : table) {
    INFO("duplicate name " << p.name);
    CHECK(ours.emplace(p.name, p).second);
  }
  size_t matched = 0;
  int64_t numel = 0;
  for (const auto& kv : official) {
    auto it = ours.find(kv.first);
    INFO("official key " << kv.first);
    REQUIRE(it != ours.end());
    CHECK(it->second.shape == kv.second);
    ++matched;
    int64_t n = 1;
    for (int64_t d : kv.second) n *= d;
    numel += n;
  }
  CHECK(matched == 1483);
  for (const auto& p : table) {
    INFO("model parameter " << p.name);
    if (!p.optional) CHECK(official.count(p.name) == 1);  // nothing the checkpoint cannot fill
  }
  // 5.71 GB of float32, as the published file sizes say.
  CHECK(double(numel) * 4 / 1e9 == Approx(5.71).margin(0.01));
}

TEST_CASE("layout: the SD1.5 configuration is inferred from the official shapes", "[sd][layout][shared]") {
  DIFSS_REQUIRE_SHARED("ref/cldm_v15_state_dict_keys.json");
  ShapeTable shapes;
  for (const auto& kv : official_keys()) shapes.emplace_back(kv.first, kv.second);
  const ModelConfig c = infer_model_config(shapes);
  const ModelConfig sd = ModelConfig::sd15();
  CHECK(c.to_json() == sd.to_json());
  CHECK(c.unet.num_control_outputs() == 13);
}

TEST_CASE("layout: official-layout files load: bundle, control-only + base, bare keys",
          "[sd][layout]") {
  c10::InferenceMode guard;
  // A small model in the official layout whose non-shape settings are SD1.5's (8 heads,
  // 64-channel CLIP heads, 32 groups), written WITHOUT metadata: everything is inferred.
  ModelConfig cfg = reduced_config();
  cfg.unet.num_heads = cfg.control.num_heads = 8;
  cfg.unet.context_dim = cfg.control.context_dim = 64;
  cfg.clip.width = 64;
  cfg.clip.heads = 1;
  cfg.clip.vocab_size = 300;
  cfg.control.hint_block_channels = {16, 16, 32, 32, 96, 96, 256};
  cfg.has_vae_encoder = true;
  const std::string with_meta = tmp("bundle_meta.safetensors");
  write_random_checkpoint(with_meta, cfg, 7, at::kHalf);
  difss::weights::StateDict all = difss::weights::load(with_meta);
  const std::string bundle = tmp("bundle.safetensors");
  difss::weights::StateDict plain(bundle);
  for (const auto& it : all) plain.insert(it.name, it.tensor);
  difss::weights::save_safetensors(bundle, plain);  // no difss.sd.config metadata

  LoadedModel a = load_control_ldm({bundle, ""}, {});
  CHECK(a.report.unused_keys.empty());
  CHECK(ModelConfig::from_json(a.report.config.to_json()).unet.num_heads == 8);
  CHECK(a.report.config.control.hint_block_channels == cfg.control.hint_block_channels);
  CHECK(a.report.config.clip.width == 64);
  CHECK(a.model.unet->input_blocks.size() == 4);
  CHECK(a.model.unet->time1.w.scalar_type() == at::kFloat);  // fp16 storage upcast

  // ControlNet 1.1 style: control file (bare keys) + SD base (Lightning "state_dict" wrapper
  // is the weights library's business; here the keys are at the root).
  const std::string control = tmp("control_only.safetensors"), base = tmp("base.safetensors");
  difss::weights::StateDict c(control), b(base);
  for (const auto& it : all) {
    if (it.name.rfind("control_model.", 0) == 0)
      c.insert(it.name.substr(std::string("control_model.").size()), it.tensor);
    else
      b.insert(it.name, it.tensor);
  }
  b.insert("model_ema.decay", at::ones({}, at::kFloat));  // tolerated
  difss::weights::save_safetensors(control, c);
  difss::weights::save_safetensors(base, b);
  LoadedModel d = load_control_ldm({control, base}, {});
  CHECK(d.report.unused_keys.empty());
  // same weights as the bundle
  CHECK(at::equal(d.model.control->zero_convs[1].w, a.model.control->zero_convs[1].w));
  CHECK(at::equal(d.model.unet->out_conv.w, a.model.unet->out_conv.w));

  // the control file alone is not enough, and says what to do
  CHECK_THROWS_WITH(load_control_ldm({control, ""}, {}), Catch::Contains("base_checkpoint"));
  CHECK_THROWS_WITH(load_control_ldm({tmp("missing.pth"), ""}, {}), Catch::Contains("missing.pth"));

  // a wrong shape is named
  difss::weights::StateDict broken(bundle);
  for (const auto& it : all)
    broken.insert(it.name, it.name == "model.diffusion_model.out.2.weight"
                               ? at::zeros({4, 32, 3, 1}, at::kHalf)
                               : it.tensor);
  const std::string bad = tmp("broken.safetensors");
  difss::weights::save_safetensors(bad, broken);
  CHECK_THROWS_WITH(load_control_ldm({bad, ""}, {}), Catch::Contains("model.diffusion_model.out.2.weight"));
  for (const auto& f : {with_meta, bundle, control, base, bad}) std::filesystem::remove(f);
}

TEST_CASE("layout: bf16 loading keeps norms in float32", "[sd][layout]") {
  c10::InferenceMode guard;
  const std::string path = tmp("bf16.safetensors");
  write_random_checkpoint(path, reduced_config(), 3);
  LoadOptions lo;
  lo.dtype = at::kBFloat16;
  LoadedModel m = load_control_ldm({path, ""}, lo);
  CHECK(m.model.unet->time1.w.scalar_type() == at::kBFloat16);
  CHECK(m.model.unet->out_norm.w.scalar_type() == at::kFloat);
  LoadOptions cuda;
  cuda.device = c10::Device(c10::kCUDA);
  if (!at::hasCUDA()) CHECK_THROWS_WITH(load_control_ldm({path, ""}, cuda), Catch::Contains("cuda"));
  std::filesystem::remove(path);
}

TEST_CASE("layout: giving each block's mapped weights back after use changes no result", "[sd][layout]") {
  c10::InferenceMode guard;
  const std::string path = tmp("release.safetensors");
  write_random_checkpoint(path, reduced_config(), 5);
  LoadedModel m = load_control_ldm({path, ""}, {});
  UNet& unet = *m.model.unet;
  ControlNet& control = *m.model.control;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(17);
  const int64_t ctx = unet.cfg.context_dim;
  const at::Tensor x = at::randn({1, unet.cfg.in_channels, 8, 8}, gen);
  const at::Tensor cond = at::randn({1, 77, ctx}, gen), uncond = at::randn({1, 77, ctx}, gen);
  ControlledDenoiser den(unet, control);
  den.set_hint(at::rand({1, 3, 64, 64}, gen));
  const GuidanceSettings g;
  const at::Tensor resident = den.eps(x, 500.0, cond, uncond, g);
  unet.release_weights_after_block = control.release_weights_after_block = true;
  // The first call drops the pages as it goes, the second faults them back in from the file.
  const at::Tensor first = den.eps(x, 500.0, cond, uncond, g);
  const at::Tensor second = den.eps(x, 500.0, cond, uncond, g);
  CHECK(at::equal(first, resident));
  CHECK(at::equal(second, resident));
  CHECK(difss::weights::release_mapped_pages(unet.time1.w));  // the weights are mapped: the test means it
  std::filesystem::remove(path);
}
