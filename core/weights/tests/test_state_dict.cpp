// StateDict operations, prefix helpers, dtype conversion and assign().
#include "catch_torch.hpp"

#include <ATen/ATen.h>

#include <filesystem>

#include "difss/weights/weights.hpp"

namespace fs = std::filesystem;
using namespace difss::weights;

namespace {

StateDict toy() {
  StateDict sd("toy.pth");
  sd.insert("module.conv.weight", at::arange(6, at::kFloat).reshape({2, 1, 3}).to(at::kHalf));
  sd.insert("module.conv.bias", at::tensor({1.5, -2.0}).to(at::kBFloat16));
  sd.insert("module.bn.num_batches_tracked", at::scalar_tensor(7, at::kLong));
  return sd;
}

}  // namespace

TEST_CASE("StateDict keeps order, replaces in place, erases", "[weights][state_dict]") {
  StateDict sd = toy();
  CHECK(sd.names() == std::vector<std::string>{"module.conv.weight", "module.conv.bias", "module.bn.num_batches_tracked"});
  sd.insert("module.conv.bias", at::zeros({2}));
  CHECK(sd.names()[1] == "module.conv.bias");
  CHECK(sd.at("module.conv.bias").scalar_type() == at::kFloat);
  CHECK(sd.erase("module.conv.weight"));
  CHECK_FALSE(sd.erase("module.conv.weight"));
  CHECK(sd.names() == std::vector<std::string>{"module.conv.bias", "module.bn.num_batches_tracked"});
  CHECK(sd.find("module.conv.bias") != nullptr);
  CHECK(sd.find("module.conv.weight") == nullptr);
  CHECK(sd.numel() == 3);
}

TEST_CASE("strip_prefix, select_prefix, convert_floats", "[weights][state_dict]") {
  StateDict sd = toy();
  sd.insert("other", at::zeros({1}));
  StateDict stripped = strip_prefix(sd, "module.");
  CHECK(stripped.names() == std::vector<std::string>{"conv.weight", "conv.bias", "bn.num_batches_tracked", "other"});
  CHECK(stripped.source() == "toy.pth");
  StateDict conv = select_prefix(sd, "module.conv.");
  CHECK(conv.names() == std::vector<std::string>{"weight", "bias"});
  CHECK(select_prefix(sd, "module.conv.", false).names() ==
        std::vector<std::string>{"module.conv.weight", "module.conv.bias"});
  sd.insert("conv.weight", at::zeros({1}));
  CHECK_THROWS_WITH(strip_prefix(sd, "module."), Catch::Contains("toy.pth") && Catch::Contains("two tensors named 'conv.weight'"));

  StateDict f32 = convert_floats(toy());
  CHECK(f32.at("module.conv.weight").scalar_type() == at::kFloat);
  CHECK(f32.at("module.conv.bias").scalar_type() == at::kFloat);
  CHECK(f32.at("module.bn.num_batches_tracked").scalar_type() == at::kLong);
  CHECK(f32.at("module.conv.bias")[0].item<float>() == 1.5f);
}

TEST_CASE("assign: fp16/bf16 stored -> fp32 slots, shapes checked", "[weights][assign]") {
  StateDict sd = strip_prefix(toy(), "module.");
  at::Tensor weight, bias, tracked;
  AssignReport report = assign(sd, {{"conv.weight", &weight, {2, 1, 3}}, {"conv.bias", &bias}, {"bn.num_batches_tracked", &tracked}});
  CHECK(report.assigned.size() == 3);
  CHECK(report.missing.empty());
  CHECK(weight.scalar_type() == at::kFloat);
  CHECK(weight.sizes() == at::IntArrayRef({2, 1, 3}));
  CHECK(weight.sum().item<float>() == 15.0f);
  CHECK(bias.scalar_type() == at::kFloat);
  CHECK(tracked.scalar_type() == at::kLong);
  CHECK(tracked.item<std::int64_t>() == 7);

  // Keeping the stored dtype.
  AssignOptions keep;
  keep.float_dtype = std::nullopt;
  at::Tensor w16;
  assign(sd, {{"conv.weight", &w16}}, [&] { auto o = keep; o.allow_unexpected = true; return o; }());
  CHECK(w16.scalar_type() == at::kHalf);

  // A defined slot keeps its dtype and identity; the data is copied in.
  at::Tensor slot = at::full({2}, 9.0, at::kDouble);
  const void* before = slot.data_ptr();
  assign(sd, {{"conv.bias", &slot}}, [] { AssignOptions o; o.allow_unexpected = true; return o; }());
  CHECK(slot.data_ptr() == before);
  CHECK(slot.scalar_type() == at::kDouble);
  CHECK(slot[1].item<double>() == -2.0);
}

TEST_CASE("assign reports every problem by name and assigns nothing", "[weights][assign]") {
  StateDict sd = strip_prefix(toy(), "module.");
  at::Tensor weight, bias = at::zeros({3}), extra;
  try {
    assign(sd, {{"conv.weight", &weight, {3, 1, 2}}, {"conv.bias", &bias}, {"head.weight", &extra}});
    FAIL("no exception");
  } catch (const WeightError& e) {
    std::string msg = e.what();
    CHECK(msg.find("toy.pth") != std::string::npos);
    CHECK(msg.find("missing 1: head.weight") != std::string::npos);
    CHECK(msg.find("unexpected 1: bn.num_batches_tracked") != std::string::npos);
    CHECK(msg.find("conv.weight: checkpoint [2, 1, 3] vs model [3, 1, 2]") != std::string::npos);
    CHECK(msg.find("conv.bias: checkpoint [2] vs model [3]") != std::string::npos);
  }
  CHECK_FALSE(weight.defined());
  CHECK(bias.sum().item<float>() == 0.0f);

  AssignOptions lenient;
  lenient.allow_missing = true;
  lenient.ignore_unexpected_regex = "num_batches_tracked$";
  at::Tensor w, b;
  AssignReport report = assign(sd, {{"conv.weight", &w}, {"conv.bias", &b}, {"head.weight", &extra}}, lenient);
  CHECK(report.missing == std::vector<std::string>{"head.weight"});
  CHECK(report.unexpected == std::vector<std::string>{"bn.num_batches_tracked"});
  CHECK(w.defined());
  CHECK_FALSE(extra.defined());

  AssignOptions bad;
  bad.ignore_unexpected_regex = "([";
  CHECK_THROWS_WITH(assign(sd, {}, bad), Catch::Contains("bad ignore_unexpected_regex"));
  CHECK_THROWS_WITH(assign(sd, {{"conv.bias", &b}, {"conv.bias", &w}}), Catch::Contains("listed twice"));
}
