// StateDict operations, prefix helpers, dtype conversion and binding (bind.hpp).
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

TEST_CASE("bind: fp16/bf16 stored -> fp32 slots, shapes checked", "[weights][bind]") {
  StateDict sd = strip_prefix(toy(), "module.");
  at::Tensor weight, bias, tracked;
  BindReport report = bind_state_dict(sd, {{"conv.weight", &weight, {2, 1, 3}}, {"conv.bias", &bias}, {"bn.num_batches_tracked", &tracked}});
  CHECK(report.bound.size() == 3);
  CHECK(report.missing.empty());
  CHECK(report.unused.empty());
  CHECK(weight.scalar_type() == at::kFloat);
  CHECK(weight.sizes() == at::IntArrayRef({2, 1, 3}));
  CHECK(weight.sum().item<float>() == 15.0f);
  CHECK(bias.scalar_type() == at::kFloat);
  CHECK(tracked.scalar_type() == at::kLong);
  CHECK(tracked.item<std::int64_t>() == 7);

  BindOptions lenient;
  lenient.allow_unused = true;
  // Keeping the stored dtype.
  BindOptions keep = lenient;
  keep.float_dtype = std::nullopt;
  at::Tensor w16;
  bind_state_dict(sd, {{"conv.weight", &w16}}, keep);
  CHECK(w16.scalar_type() == at::kHalf);

  // A per-slot dtype wins; keep_stored hands over the stored tensor itself.
  at::Tensor w64, stored;
  Slot as_double{"conv.weight", &w64};
  as_double.dtype = at::kDouble;
  Slot as_stored{"conv.bias", &stored};
  as_stored.keep_stored = true;
  bind_state_dict(sd, {as_double, as_stored}, lenient);
  CHECK(w64.scalar_type() == at::kDouble);
  CHECK(stored.is_same(sd.at("conv.bias")));

  // A defined slot keeps its dtype and identity; the data is copied in.
  at::Tensor slot = at::full({2}, 9.0, at::kDouble);
  const void* before = slot.data_ptr();
  bind_state_dict(sd, {{"conv.bias", &slot}}, lenient);
  CHECK(slot.data_ptr() == before);
  CHECK(slot.scalar_type() == at::kDouble);
  CHECK(slot[1].item<double>() == -2.0);
}

TEST_CASE("bind reports every problem by name and assigns nothing", "[weights][bind]") {
  StateDict sd = strip_prefix(toy(), "module.");
  at::Tensor weight, bias = at::zeros({3}), extra;
  try {
    bind_state_dict(sd, {{"conv.weight", &weight, {3, 1, 2}}, {"conv.bias", &bias}, {"head.weight", &extra}});
    FAIL("no exception");
  } catch (const WeightError& e) {
    std::string msg = e.what();
    CHECK(msg.find("toy.pth") != std::string::npos);
    CHECK(msg.find("missing 1: head.weight") != std::string::npos);
    CHECK(msg.find("unused 1: bn.num_batches_tracked") != std::string::npos);
    CHECK(msg.find("conv.weight: checkpoint [2, 1, 3] vs model [3, 1, 2]") != std::string::npos);
    CHECK(msg.find("conv.bias: checkpoint [2] vs model [3]") != std::string::npos);
  }
  CHECK_FALSE(weight.defined());
  CHECK(bias.sum().item<float>() == 0.0f);

  // A floating-point slot refuses an integer tensor, naming both dtypes.
  at::Tensor f;
  Slot float_slot{"bn.num_batches_tracked", &f};
  float_slot.dtype = at::kFloat;
  BindOptions lenient;
  lenient.allow_unused = true;
  CHECK_THROWS_WITH(bind_state_dict(sd, {float_slot}, lenient),
                    Catch::Contains("bn.num_batches_tracked: checkpoint Long vs model Float"));

  BindOptions ignoring;
  ignoring.allow_missing = true;
  ignoring.keys.ignore_suffixes = {".num_batches_tracked"};
  at::Tensor w, b;
  BindReport report = bind_state_dict(sd, {{"conv.weight", &w}, {"conv.bias", &b}, {"head.weight", &extra}}, ignoring);
  CHECK(report.missing == std::vector<std::string>{"head.weight"});
  CHECK(report.ignored == std::vector<std::string>{"bn.num_batches_tracked"});
  CHECK(report.unused.empty());
  CHECK(w.defined());
  CHECK_FALSE(extra.defined());

  // Optional slots are not missing; a slot named twice is an error.
  at::Tensor o;
  Slot optional{"head.bias", &o};
  optional.optional = true;
  CHECK(bind_state_dict(sd, {optional}, lenient).missing.empty());
  CHECK_THROWS_WITH(bind_state_dict(sd, {{"conv.bias", &b}, {"conv.bias", &w}}), Catch::Contains("asked for twice"));
}

TEST_CASE("bind: key rules strip, rename and ignore; take() builds one tensor at a time", "[weights][bind]") {
  StateDict sd = toy();  // module.conv.weight, module.conv.bias, module.bn.num_batches_tracked
  BindOptions opt;
  opt.keys.strip_prefixes = {"module."};
  opt.keys.renames = {{"conv.", "backbone.conv."}};
  opt.keys.ignore_prefixes = {"bn."};
  Binder binder(sd, opt);
  at::Tensor w = binder.take({"backbone.conv.weight", nullptr, {2, 1, 3}});
  CHECK(w.scalar_type() == at::kFloat);
  CHECK_FALSE(binder.take({"backbone.conv.bias", nullptr, {5}}).defined());
  BindReport r = binder.report();
  CHECK(r.bound == std::vector<std::string>{"backbone.conv.weight"});
  CHECK(r.ignored == std::vector<std::string>{"module.bn.num_batches_tracked"});
  CHECK(r.mismatched.size() == 1);
  CHECK_THROWS_WITH(binder.finish(), Catch::Contains("toy.pth") && Catch::Contains("backbone.conv.bias: checkpoint [2] vs model [5]"));

  // Two keys that become one model name are refused.
  StateDict twice("twice.pth");
  twice.insert("module.a", at::zeros({1}));
  twice.insert("a", at::zeros({1}));
  CHECK_THROWS_WITH(Binder(twice, opt), Catch::Contains("twice.pth") && Catch::Contains("both become the model name 'a'"));
}
