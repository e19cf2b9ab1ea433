// Reading real torch.save files (fixtures written by torch 1.13, see tests/data/README.md) and
// the PiDiNet checkpoint of the shared data.
#include "catch_torch.hpp"

#include <ATen/ATen.h>

#include <filesystem>

#include "builders.hpp"
#include "difss/weights/weights.hpp"
#include "shared_data.hpp"

namespace fs = std::filesystem;
using namespace difss::weights;

namespace {

fs::path data(const char* name) { return fs::path(DIFSS_WEIGHTS_TEST_DATA) / name; }

// Exact comparison after converting to double (all fixture values are exactly representable).
void check_values(const at::Tensor& t, const std::vector<double>& expected, double tolerance = 0) {
  at::Tensor flat = t.to(at::kDouble).contiguous().view({-1});
  REQUIRE(flat.numel() == static_cast<std::int64_t>(expected.size()));
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (tolerance == 0)
      CHECK(flat[static_cast<std::int64_t>(i)].item<double>() == expected[i]);
    else
      CHECK(flat[static_cast<std::int64_t>(i)].item<double>() == Approx(expected[i]).margin(tolerance));
  }
}

std::vector<double> arange(int n, double scale = 1, double shift = 0) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(i * scale + shift);
  return v;
}

}  // namespace

TEST_CASE("basic.pth: one tensor of every dtype, exact values", "[weights][pth]") {
  StateDict sd = load(data("basic.pth"));
  CHECK(sd.format == Format::TorchZip);
  CHECK(sd.entry.empty());
  REQUIRE(sd.names() == std::vector<std::string>{"f32", "f64", "f16", "bf16", "i64", "i32", "i16", "i8", "u8", "bool",
                                                  "scalar", "empty"});
  CHECK(sd.at("f32").scalar_type() == at::kFloat);
  CHECK(sd.at("f32").sizes() == at::IntArrayRef({3, 4}));
  check_values(sd.at("f32"), arange(12, 0.25));
  CHECK(sd.at("f64").scalar_type() == at::kDouble);
  check_values(sd.at("f64"), arange(6, 0.5, -1));
  CHECK(sd.at("f16").scalar_type() == at::kHalf);
  check_values(sd.at("f16"), arange(8, 0.125, -0.5));
  CHECK(sd.at("bf16").scalar_type() == at::kBFloat16);
  CHECK(sd.at("bf16").sizes() == at::IntArrayRef({4, 2}));
  check_values(sd.at("bf16"), arange(8, 0.25, -1));
  CHECK(sd.at("i64").scalar_type() == at::kLong);
  check_values(sd.at("i64"), arange(5, 1e12, -2e12));
  CHECK(sd.at("i32").scalar_type() == at::kInt);
  check_values(sd.at("i32"), arange(6, -7));
  CHECK(sd.at("i16").scalar_type() == at::kShort);
  check_values(sd.at("i16"), arange(4, 300, -600));
  CHECK(sd.at("i8").scalar_type() == at::kChar);
  check_values(sd.at("i8"), arange(6, 1, -3));
  CHECK(sd.at("u8").scalar_type() == at::kByte);
  check_values(sd.at("u8"), arange(6, 50));
  CHECK(sd.at("bool").scalar_type() == at::kBool);
  check_values(sd.at("bool"), {1, 0, 1});
  CHECK(sd.at("scalar").dim() == 0);
  CHECK(sd.at("scalar").item<float>() == 3.5f);
  CHECK(sd.at("empty").sizes() == at::IntArrayRef({0, 3}));
  CHECK(sd.numel() == 12 + 6 + 8 + 8 + 5 + 6 + 4 + 6 + 6 + 3 + 1 + 0);
  CHECK_THROWS_WITH(sd.at("nope"), Catch::Contains("no tensor named 'nope'") && Catch::Contains("basic.pth"));
}

TEST_CASE("views.pth and its legacy twin: strided views of shared storages", "[weights][pth]") {
  for (const char* file : {"views.pth", "views_legacy.pth"}) {
    for (MemoryMode mode : {MemoryMode::Copy, MemoryMode::Map}) {
      INFO(file << " mode " << static_cast<int>(mode));
      LoadOptions options;
      options.memory = mode;
      StateDict sd = load(data(file), options);
      CHECK(sd.format == (std::string(file) == "views.pth" ? Format::TorchZip : Format::TorchLegacy));
      REQUIRE(sd.size() == 10);
      const at::Tensor& base = sd.at("base");
      check_values(base, arange(24));
      const at::Tensor& t = sd.at("t");
      CHECK(t.sizes() == at::IntArrayRef({6, 4}));
      CHECK(t.strides() == at::IntArrayRef({1, 6}));
      CHECK_FALSE(t.is_contiguous());
      CHECK(at::equal(t, base.t()));
      const at::Tensor& col = sd.at("col");
      CHECK(col.storage_offset() == 2);
      CHECK(col.strides() == at::IntArrayRef({6}));
      check_values(col, {2, 8, 14, 20});
      CHECK(sd.at("row").storage_offset() == 6);
      check_values(sd.at("row"), arange(6, 1, 6));
      check_values(sd.at("block"), {8, 9, 10, 14, 15, 16});
      CHECK(sd.at("expanded").strides() == at::IntArrayRef({0, 1}));
      check_values(sd.at("expanded"), {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2});
      CHECK(sd.at("tail").storage_offset() == 90);
      CHECK(sd.at("tail").storage().nbytes() == 100 * 4);
      check_values(sd.at("tail"), arange(5, 1, 90));
      CHECK(sd.at("halfstep").scalar_type() == at::kHalf);
      check_values(sd.at("halfstep"), arange(5, 2));
      // One storage behind all views of `base`, and behind both tied names: writes show through.
      CHECK(t.storage().is_alias_of(base.storage()));
      CHECK(sd.at("tied_a").storage().is_alias_of(sd.at("tied_b").storage()));
      at::Tensor b = base;
      b.index_put_({1, 2}, -1.0);
      CHECK(sd.at("t")[2][1].item<float>() == -1.0f);
      CHECK(sd.at("col")[1].item<float>() == -1.0f);
    }
  }
}

TEST_CASE("Map mode: writes go to private pages, never to the file", "[weights][pth]") {
  fs::path copy = fs::temp_directory_path() / "difss_weights_map_test.pth";
  fs::copy_file(data("basic.pth"), copy, fs::copy_options::overwrite_existing);
  const auto before = difss::weights::test::read_file(copy);
  {
    LoadOptions options;
    options.memory = MemoryMode::Map;
    StateDict sd = load(copy, options);
    sd.find("f32")->fill_(42.0f);
    CHECK(sd.at("f32").sum().item<float>() == 42.0f * 12);
  }
  CHECK(difss::weights::test::read_file(copy) == before);
  check_values(load(copy).at("f32"), arange(12, 0.25));
  fs::remove(copy);
}

TEST_CASE("nested.pth: {'epoch', 'state_dict': module.*} unwrapped, extras kept", "[weights][pth]") {
  StateDict sd = load(data("nested.pth"));
  CHECK(sd.entry == "state_dict");
  REQUIRE(sd.names() == std::vector<std::string>{"module.conv.weight", "module.conv.bias", "module.bn.running_mean",
                                                  "module.bn.num_batches_tracked"});
  check_values(sd.at("module.conv.weight"), arange(18, 0.1), 1e-7);  // arange(18)/10 in float32
  CHECK(sd.at("module.bn.num_batches_tracked").item<std::int64_t>() == 7);
  REQUIRE(sd.extra("epoch"));
  CHECK(std::get<std::int64_t>(*sd.extra("epoch")) == 3);
  CHECK(std::get<double>(*sd.extra("best_prec1")) == 0.75);
  CHECK(std::get<std::string>(*sd.extra("arch")) == "tiny");
  CHECK(std::get<double>(*sd.extra("lrs.1")) == 0.01);
  CHECK(std::get<bool>(*sd.extra("flags.0")) == true);
  CHECK(std::holds_alternative<std::monostate>(*sd.extra("flags.1")));
  CHECK(std::get<std::int64_t>(*sd.extra("neg")) == -5);
  CHECK(std::get<std::int64_t>(*sd.extra("big")) == (std::int64_t{1} << 40));

  StateDict stripped = strip_prefix(sd, "module.");
  CHECK(stripped.names() == std::vector<std::string>{"conv.weight", "conv.bias", "bn.running_mean", "bn.num_batches_tracked"});
  CHECK(stripped.at("conv.bias").data_ptr() == sd.at("module.conv.bias").data_ptr());

  LoadOptions root;
  root.entry = "";
  StateDict whole = load(data("nested.pth"), root);
  CHECK(whole.contains("state_dict.module.conv.weight"));
  LoadOptions explicit_entry;
  explicit_entry.entry = "state_dict";
  CHECK(load(data("nested.pth"), explicit_entry).size() == 4);
  LoadOptions wrong;
  wrong.entry = "model";
  CHECK_THROWS_WITH(load(data("nested.pth"), wrong),
                    Catch::Contains("entry 'model' not found") && Catch::Contains("'state_dict'") && Catch::Contains("'epoch'"));
}

TEST_CASE("lightning.ckpt: state_dict taken, optimizer state skipped, ModelCheckpoint key inert", "[weights][ckpt]") {
  CheckpointIndex index = inspect(data("lightning.ckpt"));
  CHECK(index.entry == "state_dict");
  CHECK(index.tensors.size() == 4);
  CHECK(index.storages.size() == 4);
  CHECK(index.skipped_tensors == 1);  // optimizer_states.0.state.0.exp_avg
  StateDict sd = load(data("lightning.ckpt"));
  CHECK(sd.names() == std::vector<std::string>{"model.conv.weight", "model.conv.bias", "model.bn.running_mean",
                                                "model.bn.num_batches_tracked"});
  check_values(sd.at("model.conv.bias"), {0.5, -0.5});
  CHECK(std::get<std::int64_t>(*sd.extra("global_step")) == 100);
  CHECK(std::get<std::string>(*sd.extra("pytorch-lightning_version")) == "1.5.0");
  CHECK(std::get<double>(*sd.extra("callbacks.pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint.best_model_score")) == 0.5);
  CHECK(std::get<double>(*sd.extra("optimizer_states.0.param_groups.0.lr")) == 1e-4);
  CHECK(std::get<std::string>(*sd.extra("hyper_parameters.name")) == "tiny");

  LoadOptions optimizer;
  optimizer.entry = "optimizer_states";
  StateDict opt = load(data("lightning.ckpt"), optimizer);
  REQUIRE(opt.names() == std::vector<std::string>{"0.state.0.exp_avg"});
  check_values(opt.at("0.state.0.exp_avg"), std::vector<double>(18, 0.25));
}

TEST_CASE("namespace_hparams.ckpt: unknown global refused, readable as inert when allowed", "[weights][ckpt]") {
  CHECK_THROWS_WITH(load(data("namespace_hparams.ckpt")),
                    Catch::Contains("namespace_hparams.ckpt") && Catch::Contains("argparse.Namespace") &&
                        Catch::Contains("allow_inert_globals"));
  LoadOptions inert;
  inert.allow_inert_globals = true;
  StateDict sd = load(data("namespace_hparams.ckpt"), inert);
  CHECK(sd.entry == "state_dict");
  CHECK(sd.names() == std::vector<std::string>{"conv.weight", "conv.bias", "bn.running_mean", "bn.num_batches_tracked"});
}

TEST_CASE("params_protocol4.pth: nn.Parameter objects pickled with protocol 4", "[weights][pth]") {
  StateDict sd = load(data("params_protocol4.pth"));
  REQUIRE(sd.names() == std::vector<std::string>{"weight", "bias"});
  check_values(sd.at("weight"), arange(6, 1, -2));
  check_values(sd.at("bias"), {10, 20});
  CHECK_FALSE(sd.at("weight").requires_grad());
}

TEST_CASE("filters load only the selected tensors", "[weights][pth]") {
  LoadOptions options;
  options.filter = keep_prefixes({"f1", "i6"});
  StateDict sd = load(data("basic.pth"), options);
  CHECK(sd.names() == std::vector<std::string>{"f16", "i64"});
  LoadOptions none;
  none.filter = [](const std::string&) { return false; };
  CHECK(load(data("basic.pth"), none).empty());
  // A filtered-out storage is not even located: the views of `base` load without reading `tail`.
  LoadOptions views;
  views.filter = keep_prefixes({"tail"});
  StateDict tail = load(data("views.pth"), views);
  REQUIRE(tail.size() == 1);
  check_values(tail.at("tail"), arange(5, 1, 90));
}

TEST_CASE("load_pth / load_safetensors insist on their format; load_from_memory", "[weights]") {
  CHECK_THROWS_WITH(load_pth(data("tiny.safetensors")), Catch::Contains("safetensors"));
  CHECK_THROWS_WITH(load_safetensors(data("basic.pth")), Catch::Contains("torch-zip"));
  CHECK(load_pth(data("views_legacy.pth")).size() == 10);
  auto bytes = difss::weights::test::read_file(data("basic.pth"));
  StateDict sd = load_from_memory(bytes.data(), bytes.size(), "in-memory basic");
  CHECK(sd.source() == "in-memory basic");
  check_values(sd.at("i16"), arange(4, 300, -600));
  bytes.assign(bytes.size(), '\0');  // the tensors own their data
  check_values(sd.at("i16"), arange(4, 300, -600));
}

TEST_CASE("PiDiNet table5_pidinet.pth (shared data): 83 tensors, 710,149 parameters", "[weights][pth][shared]") {
  DIFSS_REQUIRE_SHARED("weights/pidinet/table5_pidinet.pth");
  const fs::path file = difss::test::shared_dir() / "weights/pidinet/table5_pidinet.pth";
  StateDict sd = load(file);
  CHECK(sd.entry == "state_dict");
  CHECK(std::get<std::int64_t>(*sd.extra("epoch")) == 19);
  REQUIRE(sd.size() == 83);
  CHECK(sd.numel() == 710149);
  for (const auto& item : sd) {
    CHECK(item.name.rfind("module.", 0) == 0);
    CHECK(item.tensor.scalar_type() == at::kFloat);
  }
  StateDict net = strip_prefix(std::move(sd), "module.");
  CHECK(net.items().front().name == "init_block.weight");
  CHECK(net.items().back().name == "classifier.bias");
  // Reference values read with torch.load in Python (float32 printed as double).
  const at::Tensor& init = net.at("init_block.weight");
  CHECK(init.sizes() == at::IntArrayRef({60, 3, 3, 3}));
  CHECK(init.view({-1})[0].item<float>() == static_cast<float>(-0.12042921036481857));
  CHECK(init.view({-1})[1].item<float>() == static_cast<float>(-0.1383599191904068));
  CHECK(init.view({-1})[2].item<float>() == static_cast<float>(-0.10474901646375656));
  CHECK(init.to(at::kDouble).sum().item<double>() == Approx(0.828296121180756).margin(1e-9));
  CHECK(net.at("block1_1.conv1.weight").sizes() == at::IntArrayRef({60, 1, 3, 3}));
  CHECK(net.at("block1_1.conv1.weight").view({-1})[0].item<float>() == static_cast<float>(0.053058769553899765));
  const at::Tensor& cls = net.at("classifier.weight");
  CHECK(cls.sizes() == at::IntArrayRef({1, 4, 1, 1}));
  CHECK(cls.view({-1})[1].item<float>() == static_cast<float>(0.2899540066719055));
  CHECK(net.at("classifier.bias").item<float>() == static_cast<float>(-0.03572775796055794));
}
