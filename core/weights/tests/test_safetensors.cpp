// .safetensors: the fixture written by hand-rolled numpy code, mapping without copies, and the
// writer (round trip, layout, atomicity).
#include "catch_torch.hpp"

#include <ATen/ATen.h>

#include <unistd.h>

#include <filesystem>

#include "builders.hpp"
#include "difss/weights/weights.hpp"

namespace fs = std::filesystem;
using namespace difss::weights;
using difss::weights::test::read_file;

namespace {

fs::path data(const char* name) { return fs::path(DIFSS_WEIGHTS_TEST_DATA) / name; }

std::vector<double> values(const at::Tensor& t) {
  at::Tensor flat = t.to(at::kDouble).contiguous().view({-1});
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("difss_weights_test_" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("tiny.safetensors: every dtype, exact values, metadata", "[weights][safetensors]") {
  StateDict sd = load(data("tiny.safetensors"));
  CHECK(sd.format == Format::Safetensors);
  REQUIRE(sd.names() == std::vector<std::string>{"i64", "f64", "f32", "scalar", "i32", "f16", "bf16", "i16", "u8", "i8",
                                                  "bool", "empty"});
  CHECK(values(sd.at("i64")) == std::vector<double>{0, -1099511627776.0, -2199023255552.0});
  CHECK(values(sd.at("f64")) == std::vector<double>{0.125, -3});
  CHECK(sd.at("f32").sizes() == at::IntArrayRef({2, 3}));
  CHECK(values(sd.at("f32")) == std::vector<double>{0, 0.5, 1, 1.5, 2, 2.5});
  CHECK(sd.at("scalar").dim() == 0);
  CHECK(sd.at("scalar").item<float>() == 7.25f);
  CHECK(values(sd.at("i32")) == std::vector<double>{-1, 65536});
  CHECK(sd.at("f16").scalar_type() == at::kHalf);
  CHECK(values(sd.at("f16")) == std::vector<double>{-0.5, -0.25, 0, 0.25});
  CHECK(sd.at("bf16").scalar_type() == at::kBFloat16);
  CHECK(values(sd.at("bf16")) == std::vector<double>{0, 1.5, 3});
  CHECK(values(sd.at("i16")) == std::vector<double>{-300, 300});
  CHECK(values(sd.at("u8")) == std::vector<double>{0, 127, 255});
  CHECK(values(sd.at("i8")) == std::vector<double>{-128, 127});
  CHECK(sd.at("bool").scalar_type() == at::kBool);
  CHECK(values(sd.at("bool")) == std::vector<double>{1, 0, 1});
  CHECK(sd.at("empty").sizes() == at::IntArrayRef({0, 2}));
  CHECK(sd.metadata == std::map<std::string, std::string>{{"format", "pt"}, {"note", "difss fixture"}});
}

TEST_CASE("safetensors are mapped, not copied, by default", "[weights][safetensors]") {
  StateDict mapped = load(data("tiny.safetensors"));
  LoadOptions copy_options;
  copy_options.memory = MemoryMode::Copy;
  StateDict copied = load(data("tiny.safetensors"), copy_options);
  const auto allocator_deleter = at::empty({4}).storage().data_ptr().get_deleter();
  // Tensors over the mapping carry the from_blob deleter (which keeps the mapping alive), not the
  // CPU allocator's; bool storages are always copied (their bytes are normalised).
  CHECK(mapped.at("f32").storage().data_ptr().get_deleter() != allocator_deleter);
  CHECK(mapped.at("i64").storage().data_ptr().get_deleter() != allocator_deleter);
  CHECK(mapped.at("bool").storage().data_ptr().get_deleter() == allocator_deleter);
  CHECK(copied.at("f32").storage().data_ptr().get_deleter() == allocator_deleter);
  CHECK(at::equal(mapped.at("f32"), copied.at("f32")));
  // The mapping outlives the StateDict through any tensor taken from it.
  at::Tensor kept = mapped.at("f64");
  mapped = StateDict();
  CHECK(values(kept) == std::vector<double>{0.125, -3});
}

TEST_CASE("save_safetensors round trip: dtypes, views, metadata, layout", "[weights][safetensors]") {
  TempDir dir;
  StateDict sd;
  sd.insert("z.f32", at::arange(12, at::kFloat).reshape({3, 4}) / 3);
  sd.insert("a.transposed", at::arange(6, at::kFloat).reshape({2, 3}).t());  // non-contiguous input
  sd.insert("f64", at::arange(3, at::kDouble) - 0.5);
  sd.insert("f16", (at::arange(5, at::kFloat) / 4).to(at::kHalf));
  sd.insert("bf16", (at::arange(5, at::kFloat) * 2).to(at::kBFloat16));
  sd.insert("i64", at::arange(4, at::kLong) * (std::int64_t{1} << 40));
  sd.insert("i32", at::arange(4, at::kInt) - 2);
  sd.insert("i16", at::arange(3, at::kShort) * 1000);
  sd.insert("i8", at::arange(3, at::kChar) - 1);
  sd.insert("u8", at::arange(3, at::kByte) * 100);
  sd.insert("b", at::arange(4, at::kLong).remainder(2).to(at::kBool));
  sd.insert("scalar", at::scalar_tensor(2.5, at::kFloat));
  sd.insert("empty", at::zeros({0, 5}, at::kFloat));
  sd.insert("quote\"name\n", at::ones({1}, at::kFloat));  // JSON escaping
  sd.metadata["format"] = "pt";
  const fs::path file = dir.path / "out.safetensors";
  save_safetensors(file, sd, {{"creator", "difss test"}, {"format", "difss"}});

  StateDict back = load(file);
  REQUIRE(back.size() == sd.size());
  for (const auto& item : sd) {
    INFO(item.name);
    const at::Tensor& got = back.at(item.name);
    CHECK(got.scalar_type() == item.tensor.scalar_type());
    CHECK(got.sizes() == item.tensor.sizes());
    CHECK(got.is_contiguous());
    CHECK(at::equal(got, item.tensor));
  }
  CHECK(back.metadata == std::map<std::string, std::string>{{"creator", "difss test"}, {"format", "difss"}});

  // Layout: header padded to 8 bytes, every tensor aligned to its element size, largest first.
  CheckpointIndex index = inspect(file);
  CHECK(index.storages.front().offset % 8 == 0);
  for (const StorageRecord& s : index.storages) CHECK(s.offset % dtype_size(s.dtype) == 0);
  // No temporary file left behind; overwriting works.
  save_safetensors(file, select_prefix(sd, "z.", false));
  CHECK(load(file).names() == std::vector<std::string>{"z.f32"});
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) files += e.is_regular_file();
  CHECK(files == 1);
}

TEST_CASE("save_safetensors refuses what it cannot write, leaving nothing behind", "[weights][safetensors]") {
  TempDir dir;
  StateDict complex;
  complex.insert("c", at::zeros({2}, at::kComplexFloat));
  CHECK_THROWS_WITH(save_safetensors(dir.path / "c.safetensors", complex), Catch::Contains("'c'") && Catch::Contains("ComplexFloat"));
  StateDict reserved;
  reserved.insert("__metadata__", at::zeros({1}));
  CHECK_THROWS_AS(save_safetensors(dir.path / "r.safetensors", reserved), WeightError);
  StateDict ok;
  ok.insert("w", at::zeros({1}));
  CHECK_THROWS_WITH(save_safetensors(dir.path / "missing-dir" / "w.safetensors", ok),
                    Catch::Contains("missing-dir") && Catch::Contains("temporary file"));
  CHECK(fs::is_empty(dir.path));
}
