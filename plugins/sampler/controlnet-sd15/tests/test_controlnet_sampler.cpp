// The plugin end to end: a reduced-width random checkpoint in the official key layout, created
// through the SDK factory (parameter checking included), 2 images of 64x64 from a control map,
// progress and cancellation, determinism per seed.
#include "catch_torch.hpp"

#include <difss/sd/loading.hpp>
#include <difss/sdk/plugin.hpp>
#include <difss/sdk/tensor_torch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "../src/controlnet_sampler.hpp"
#include "host_exec.hpp"
#include "shared_data.hpp"

using difss::plugins::ControlNetSd15Sampler;
namespace sdk = difss::sdk;

namespace {

using Lib = sdk::detail::Library<ControlNetSd15Sampler>;

const std::string& checkpoint() {
  static const std::string path = [] {
    std::string p = (std::filesystem::path(DIFSS_BINARY_DIR) / "sd_plugin_random.safetensors").string();
    difss::sd::write_random_checkpoint(p, difss::sd::reduced_config(), 11);
    return p;
  }();
  return path;
}

std::string vocab() { return (difss::test::shared_dir() / "ref/clip/bpe_simple_vocab_16e6.txt.gz").string(); }

struct CallState {
  std::string error;
  difss_status status = DIFSS_OK;
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  int cancel_after = -1;  // cancel once this many progress reports arrived
};

difss_call make_call(CallState& s) {
  difss_call c{};
  c.struct_size = sizeof(c);
  c.host_data = &s;
  c.set_error = [](difss_call* call, difss_status st, const char* msg) {
    auto* s = static_cast<CallState*>(call->host_data);
    s->status = st;
    s->error = msg;
  };
  c.progress = [](difss_call* call, const char*, uint64_t done, uint64_t total) {
    static_cast<CallState*>(call->host_data)->progress.emplace_back(done, total);
  };
  c.is_cancelled = [](difss_call* call) {
    auto* s = static_cast<CallState*>(call->host_data);
    return int(s->cancel_after >= 0 && int(s->progress.size()) >= s->cancel_after);
  };
  return c;
}

struct Instance {
  const difss_sampler* obj = nullptr;
  ~Instance() {
    if (obj) obj->destroy(obj);
  }
};

difss_status create(Instance& inst, std::map<std::string, difss_value> values, CallState& st) {
  std::vector<difss_param> params;
  for (auto& kv : values) params.push_back({sizeof(difss_param), kv.first.c_str(), kv.second});
  difss_call call = make_call(st);
  static difss_host host{sizeof(difss_host), DIFSS_ABI_VERSION_MAJOR, DIFSS_ABI_VERSION_MINOR,
                         nullptr, nullptr, [](const difss_host*) { return int32_t(1); }, nullptr, ""};
  const auto* f = static_cast<const difss_sampler_factory*>(Lib::get_factory(DIFSS_FACTORY_SAMPLER));
  REQUIRE(f != nullptr);
  difss_create_args args{sizeof(args), "org.difss.sampler.controlnet-sd15", &host, params.data(),
                         uint32_t(params.size()), uint32_t(sizeof(difss_param))};
  return f->create(f, &args, &inst.obj, &call);
}

difss_value str(const std::string& s) {
  static std::vector<std::unique_ptr<std::string>> keep;
  keep.push_back(std::make_unique<std::string>(s));
  difss_value v{};
  v.type = DIFSS_PARAM_STRING;
  v.s = keep.back()->c_str();
  return v;
}
difss_value integer(int64_t i) {
  difss_value v{};
  v.type = DIFSS_PARAM_INT;
  v.i = i;
  return v;
}

// A two-region "segmentation map": ADE palette colours wall (120,120,120) and dog-ish (150,5,61).
at::Tensor control_map(int64_t h, int64_t w) {
  at::Tensor c = at::empty({h, w, 3}, at::kByte);
  c.select(2, 0).fill_(120);
  c.select(2, 1).fill_(120);
  c.select(2, 2).fill_(120);
  at::Tensor fg = c.slice(0, h / 4, 3 * h / 4).slice(1, w / 4, 3 * w / 4);
  fg.select(2, 0).fill_(150);
  fg.select(2, 1).fill_(5);
  fg.select(2, 2).fill_(61);
  return c;
}

at::Tensor sample(Instance& inst, const at::Tensor& control, uint64_t seed, uint32_t count,
                  CallState& st) {
  DLManagedTensor* dl = at::toDLPack(control);
  difss_sampler_input in{};
  in.struct_size = sizeof(in);
  in.control = &dl->dl_tensor;
  // the texts the host sends by default ([generator] prompt and negative_prompt)
  in.prompt = "a real shot photo of dog, best quality, extremely detailed";
  in.negative_prompt =
      "longbody, lowres, bad anatomy, bad hands, missing fingers, extra digit, fewer digits, cropped, "
      "worst quality, low quality";
  in.class_id = 12;
  in.class_name = "dog";
  in.seed = seed;
  in.count = count;
  DLManagedTensor* out = nullptr;
  difss_call call = make_call(st);
  st.status = inst.obj->sample(inst.obj, &in, &out, &call);
  dl->deleter(dl);
  if (st.status != DIFSS_OK) {
    CHECK(out == nullptr);
    return {};
  }
  REQUIRE(out != nullptr);
  sdk::OwnedTensor owned(out);
  return sdk::as_tensor(owned.dl()).clone();
}

}  // namespace

TEST_CASE("controlnet-sd15: descriptor lists the generator's parameters and ports", "[sd][plugin]") {
  sdk::Descriptor d = ControlNetSd15Sampler::describe();
  CHECK(d.id == "org.difss.sampler.controlnet-sd15");
  std::vector<std::string> names;
  for (const auto& p : d.params) names.push_back(p.name);
  for (const char* want : {"checkpoint", "base_checkpoint", "vocab", "sampler", "steps", "guidance",
                           "strength", "eta", "guess_mode", "seed", "batch_size", "resolution",
                           "precision", "release_block_weights", "device"}) {
    INFO(want);
    CHECK(std::find(names.begin(), names.end(), want) != names.end());
  }
  // values the pipeline owns are not parameters: the count ([generator] per_support) and the
  // prompt texts ([generator] prompt / negative_prompt) arrive through the sample call
  for (const char* owned_by_host : {"per_support", "a_prompt", "n_prompt", "double_comma"}) {
    INFO(owned_by_host);
    CHECK(std::find(names.begin(), names.end(), owned_by_host) == names.end());
  }
  std::vector<std::string> ports;
  for (const auto& p : d.ports) ports.push_back(p.name);
  CHECK(ports == std::vector<std::string>{"control", "prompt", "negative_prompt", "images"});
}

TEST_CASE("controlnet-sd15: bad parameters are rejected with a status", "[sd][plugin]") {
  CallState st;
  {
    Instance inst;
    CHECK(create(inst, {}, st) == DIFSS_ERR_INVALID_ARGUMENT);  // checkpoint is required
    CHECK_THAT(st.error, Catch::Contains("checkpoint"));
  }
  {
    Instance inst;
    CHECK(create(inst, {{"checkpoint", str("/nonexistent/control_sd15_seg.pth")}}, st) == DIFSS_ERR_NOT_FOUND);
    CHECK_THAT(st.error, Catch::Contains("/nonexistent/control_sd15_seg.pth"));
  }
  {
    Instance inst;
    CHECK(create(inst, {{"checkpoint", str(checkpoint())}, {"sampler", str("plms")}}, st) ==
          DIFSS_ERR_INVALID_ARGUMENT);
  }
  {
    Instance inst;
    CHECK(create(inst, {{"checkpoint", str(checkpoint())}, {"steps", integer(0)}}, st) ==
          DIFSS_ERR_INVALID_ARGUMENT);
  }
}

TEST_CASE("controlnet-sd15: samples 2 images of 64x64 from a random reduced checkpoint", "[sd][plugin][shared][slow]") {
  DIFSS_REQUIRE_SHARED("ref/clip/bpe_simple_vocab_16e6.txt.gz");
  CallState st;
  Instance inst;
  REQUIRE(create(inst, {{"checkpoint", str(checkpoint())}, {"vocab", str(vocab())}, {"steps", integer(4)},
                        {"batch_size", integer(1)}},
                 st) == DIFSS_OK);
  at::Tensor control = control_map(64, 64);
  at::Tensor a = sample(inst, control, 7, 2, st);
  REQUIRE(st.status == DIFSS_OK);
  REQUIRE(a.sizes() == at::IntArrayRef({2, 64, 64, 3}));
  CHECK(a.scalar_type() == at::kByte);
  // progress: one report per step of each of the two batches (batch_size 1), in order
  REQUIRE(st.progress.size() == 8);
  CHECK(st.progress.back() == std::make_pair(uint64_t(8), uint64_t(8)));
  // the two images differ (different per-image seeds) and are not constant
  CHECK(!at::equal(a[0], a[1]));
  CHECK(a.to(at::kFloat).std().item<double>() > 1.0);

  // image k depends on (seed, k) only: same seed -> same images, even batched differently
  CallState st2;
  Instance batched;
  REQUIRE(create(batched, {{"checkpoint", str(checkpoint())}, {"vocab", str(vocab())}, {"steps", integer(4)},
                           {"batch_size", integer(2)}},
                 st2) == DIFSS_OK);
  at::Tensor b = sample(batched, control, 7, 2, st2);
  REQUIRE(st2.status == DIFSS_OK);
  CHECK((a.to(at::kInt) - b.to(at::kInt)).abs().max().item<int>() <= 1);
  at::Tensor c = sample(batched, control, 8, 1, st2);
  CHECK(!at::equal(c[0], a[0]));

  // non-multiple-of-64 control maps are resized (official resize, short side `resolution`)
  CallState st3;
  Instance small;
  REQUIRE(create(small, {{"checkpoint", str(checkpoint())}, {"vocab", str(vocab())}, {"steps", integer(2)},
                         {"resolution", integer(64)}},
                 st3) == DIFSS_OK);
  at::Tensor r = sample(small, control_map(50, 100), 1, 1, st3);
  REQUIRE(st3.status == DIFSS_OK);
  CHECK(r.sizes() == at::IntArrayRef({1, 64, 128, 3}));
}

TEST_CASE("controlnet-sd15: cancellation between steps", "[sd][plugin][shared][slow]") {
  DIFSS_REQUIRE_SHARED("ref/clip/bpe_simple_vocab_16e6.txt.gz");
  CallState st;
  Instance inst;
  REQUIRE(create(inst, {{"checkpoint", str(checkpoint())}, {"vocab", str(vocab())}, {"steps", integer(10)}},
                 st) == DIFSS_OK);
  st.cancel_after = 3;
  at::Tensor out = sample(inst, control_map(64, 64), 1, 1, st);
  CHECK(st.status == DIFSS_ERR_CANCELLED);
  CHECK(st.progress.size() == 3);
  // a bad control map is an error with a status, not a crash
  CallState st2;
  at::Tensor gray = at::zeros({64, 64}, at::kByte);
  at::Tensor none = sample(inst, gray, 1, 1, st2);
  CHECK(st2.status == DIFSS_ERR_INVALID_ARGUMENT);
  CHECK_THAT(st2.error, Catch::Contains("control"));
  // absurd sizes are refused before anything is allocated
  CallState st3;
  at::Tensor wide = sample(inst, at::zeros({50, 5000, 3}, at::kByte), 1, 1, st3);
  CHECK(st3.status == DIFSS_ERR_INVALID_ARGUMENT);
  CHECK_THAT(st3.error, Catch::Contains("2048"));
}

// The end-to-end check: difss-host runs a TOML pipeline (seg-palette control maps of
// synthetic supports -> this plugin with a random reduced checkpoint in the official layout) and
// writes the auxiliary supports under the DifFSS naming {name}_{label}_{k}.jpg.
TEST_CASE("controlnet-sd15: a pipeline TOML with a random reduced checkpoint writes DifFSS-named images",
          "[sd][plugin][pipeline][shared][slow]") {
  DIFSS_REQUIRE_SHARED("ref/clip/bpe_simple_vocab_16e6.txt.gz");
  if (difss::test::host_exe() == nullptr) {
    WARN("DIFSS_HOST_EXE is not set (run through ctest): pipeline check skipped");
    return;
  }
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(DIFSS_BINARY_DIR) / "sd_plugin_pipeline";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path toml = dir / "p.toml";
  std::ofstream(toml) << "[pipeline]\nmode = \"generate\"\nseed = 3\noutput = \"" << (dir / "out").string()
                      << "\"\n[dataset]\nkind = \"synthetic\"\noptions = { classes = 2, images_per_class = 2, size = 64 }\n"
                         "[condition]\nplugin = \"org.difss.condition.seg-palette\"\nparams = { resolution = 0 }\n"
                         "[generator]\nplugin = \"org.difss.sampler.controlnet-sd15\"\nper_support = 2\n"
                         "params = { checkpoint = \""
                      << checkpoint() << "\", vocab = \"" << vocab() << "\", steps = 2 }\n";
  const difss::test::Exec r = difss::test::run_host("--pipeline " + toml.string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  // 2 classes x 2 images = 4 supports, 2 images each, plus each support's control map
  std::vector<fs::path> images, controls;
  for (auto& e : fs::recursive_directory_iterator(dir / "out" / "aux")) {
    const std::string n = e.path().filename().string();
    if (n.size() > 12 && n.compare(n.size() - 12, 12, "_control.jpg") == 0) controls.push_back(e.path());
    else if (e.path().extension() == ".jpg") images.push_back(e.path());
  }
  CHECK(controls.size() == 4);
  REQUIRE(images.size() == 8);
  for (const auto& p : images) {
    const std::string n = p.stem().string();  // <sample>_<label>_<k>
    const auto k = n.substr(n.rfind('_') + 1);
    CHECK((k == "0" || k == "1"));
    const std::string rest = n.substr(0, n.rfind('_'));
    CHECK(rest.substr(rest.rfind('_') + 1).find_first_not_of("0123456789") == std::string::npos);
    cv::Mat img = cv::imread(p.string());
    CHECK(img.cols == 64);
    CHECK(img.rows == 64);
  }
}
