// ABI 2's promises, tested with real libraries:
//   - a plain-C plugin (no SDK) loads, is described, creates, runs in a pipeline, and its deinit runs
//     at exit;
//   - a plugin built against a NEWER minor (larger description structs) loads in this host;
//   - a plugin built against THIS minor serves a host that knows a newer one (larger caller-owned
//     structs, a larger parameter stride, larger input structs): growth rules (a)-(c) of difss.h.
#include <difss/abi/difss_entry.h>
#include <difss/core/dl_views.hpp>
#include <difss/core/errors.hpp>
#include <difss/core/instances.hpp>

#include <dlfcn.h>

#include <opencv2/core.hpp>

#include "test_helpers.hpp"

using namespace difss;
using namespace difss::test;
namespace fs = std::filesystem;

namespace {

cv::Mat square_image(int h, int w) {
  cv::Mat img(h, w, CV_8UC3, cv::Scalar(10, 20, 30));
  return img;
}
cv::Mat square_mask(int h, int w) {
  cv::Mat m(h, w, CV_8UC1, cv::Scalar(0));
  m(cv::Rect(w / 4, h / 4, w / 2, h / 2)).setTo(1);
  return m;
}

const difss_plugin_entry_t& entry_of(const std::string& file) {
  void* h = dlopen((fs::path(DIFSS_TEST_PLUGIN_DIR) / file).c_str(), RTLD_NOW | RTLD_LOCAL);
  REQUIRE(h != nullptr);
  auto* e = static_cast<const difss_plugin_entry_t*>(dlsym(h, DIFSS_ENTRY_SYMBOL));
  REQUIRE(e != nullptr);
  return *e;  // never closed, like the host does
}

// What a host built against a newer minor would pass: every struct one field longer, the extra
// field pre-filled with a sentinel the plugin must leave alone.
constexpr uint64_t kSentinel = 0x5eed5eed5eed5eedULL;
struct NextPluginInfo {
  difss_plugin_info v2_0;
  uint64_t added;
};
struct NextParamInfo {
  difss_param_info v2_0;
  uint64_t added;
};
struct NextPortInfo {
  difss_port_info v2_0;
  uint64_t added;
};
struct NextParam {
  difss_param v2_0;
  uint64_t added;
};
struct NextCreateArgs {
  difss_create_args v2_0;
  uint64_t added;
};
struct NextConditionInput {
  difss_condition_input v2_0;
  uint64_t added;
};
struct NextCall {
  difss_call v2_0;
  uint64_t added;
};

}  // namespace

TEST_CASE("a plain-C plugin loads, describes itself and runs") {
  const PluginInfo* p = test_registry().find("org.difss.test.c-invert-condition");
  REQUIRE(p != nullptr);
  CHECK(p->descriptor->kind == DIFSS_KIND_CONDITION);
  REQUIRE(p->descriptor->param_count == 1);
  CHECK(std::string(p->descriptor->params[0].name) == "strength");
  CHECK(p->descriptor->params[0].default_value.f == 1.0);
  REQUIRE(p->descriptor->port_count == 3);
  CHECK(std::string(p->descriptor->ports[2].format) == DIFSS_FORMAT_IMAGE);
  CHECK(std::string(p->descriptor->fingerprint->compiler) == "C");

  ResolvedParams params = default_params(*p->descriptor);
  sdk::Value half;
  half.type = DIFSS_PARAM_FLOAT;
  half.f = 0.5;
  params.set("strength", half);
  ConditionInstance inst(*p, params);
  cv::Mat control = inst.generate(square_image(8, 12), square_mask(8, 12), 1, "cat", "pascal");
  REQUIRE(control.size() == cv::Size(12, 8));
  // Inside the mask: (255 - v) * 0.5 rounded; outside: black.
  CHECK(control.at<cv::Vec3b>(4, 6) == cv::Vec3b(uint8_t(122.5 + 0.5), uint8_t(117.5 + 0.5), uint8_t(112.5 + 0.5)));
  CHECK(control.at<cv::Vec3b>(0, 0) == cv::Vec3b(0, 0, 0));

  sdk::Value too_big = half;
  too_big.f = 2.0;
  params.set("strength", too_big);
  try {
    ConditionInstance bad(*p, params);
    FAIL("a strength of 2 was accepted");
  } catch (const PluginError& e) {
    CHECK_THAT(e.what(), Catch::Contains("out of range"));
  }
}

TEST_CASE("a plain-C plugin runs in a pipeline, and its deinit runs when the host exits") {
  TempDir tmp;
  const fs::path log = tmp.path / "lifecycle.log";
  const fs::path p = tmp.write(
      "c.toml", "[pipeline]\nname = \"c\"\nseed = 1\nthreads = 1\noutput = \"" +
                    (tmp.path / "run").string() +
                    "\"\n[dataset]\nkind = \"synthetic\"\nshots = 1\nepisodes = 6\n"
                    "options = { classes = 3, images_per_class = 4, size = 48 }\n"
                    "[condition]\nplugin = \"org.difss.test.c-invert-condition\"\n"
                    "params = { strength = 0.75 }\n"
                    "[generator]\nplugin = \"org.difss.test.noise-sampler\"\nper_support = 1\n"
                    "[segmenter]\nplugin = \"org.difss.test.color-segmenter\"\n");
  const std::string plugins = "--plugin-path " + std::string(DIFSS_TEST_PLUGIN_DIR) + " ";
  Exec run = run_host(plugins + "--pipeline " + p.string());
  INFO(run.output);
  REQUIRE(run.code == 0);
  CHECK(fs::exists(tmp.path / "run" / "results.json"));

  setenv("DIFSS_TEST_LIFECYCLE_LOG", log.c_str(), 1);
  Exec list = run_host(plugins + "plugins list");
  unsetenv("DIFSS_TEST_LIFECYCLE_LOG");
  INFO(list.output);
  REQUIRE(list.code == 0);
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == "init\ndeinit\n");
}

TEST_CASE("a plugin built against a newer minor loads and works in this host") {
  const LibraryRecord* rec = record_for("test-newer-minor");
  REQUIRE(rec != nullptr);
  INFO(rec->reason);
  REQUIRE(rec->accepted);
  CHECK(rec->abi_minor == DIFSS_ABI_VERSION_MINOR + 1);
  const PluginInfo* p = test_registry().find("org.difss.test.newer-minor-condition");
  REQUIRE(p != nullptr);
  CHECK(std::string(p->descriptor->name) == "Built against a newer ABI minor (test)");
  REQUIRE(p->descriptor->param_count == 1);
  const difss_param_info& level = p->descriptor->params[0];
  CHECK(level.struct_size == sizeof(difss_param_info));  // what this host asked for, no more
  CHECK(std::string(level.name) == "level");
  CHECK(level.default_value.i == 200);
  CHECK(level.max == 255);
  CHECK(std::string(level.doc) == "Grey level of the mask in the control map.");
  REQUIRE(p->descriptor->port_count == 3);
  CHECK(std::string(p->descriptor->ports[1].format) == DIFSS_FORMAT_MASK);

  ConditionInstance inst(*p, default_params(*p->descriptor));
  cv::Mat control = inst.generate(square_image(8, 8), square_mask(8, 8), 1, "cat", "pascal");
  CHECK(control.at<cv::Vec3b>(4, 4) == cv::Vec3b(200, 200, 200));
  CHECK(control.at<cv::Vec3b>(0, 0) == cv::Vec3b(0, 0, 0));
}

TEST_CASE("a plugin built against this minor serves a host that knows a newer one") {
  // The SDK-built test-basic library, driven as a newer host would drive it.
  const difss_plugin_entry_t& e = entry_of("difss_test-basic.so");
  REQUIRE(e.abi_major == DIFSS_ABI_VERSION_MAJOR);
  REQUIRE(e.abi_minor == DIFSS_ABI_VERSION_MINOR);
  struct NextHost {
    difss_host v2_0;
    uint64_t added;
  } host{};
  host.v2_0 = *test_registry().find("org.difss.test.mask-condition")->host;
  host.v2_0.struct_size = sizeof(host);
  host.added = kSentinel;
  REQUIRE(e.init(&host.v2_0));

  auto* f = static_cast<const difss_condition_factory*>(e.get_factory(DIFSS_FACTORY_CONDITION));
  REQUIRE(f != nullptr);
  REQUIRE(f->base.count(&f->base) == 1);

  NextPluginInfo info{};
  info.v2_0.struct_size = sizeof(info);
  info.added = kSentinel;
  REQUIRE(f->base.get_info(&f->base, 0, &info.v2_0));
  CHECK(info.v2_0.struct_size == sizeof(difss_plugin_info));  // it filled what it knows
  CHECK(info.added == kSentinel);                              // and nothing beyond
  CHECK(std::string(info.v2_0.id) == "org.difss.test.mask-condition");
  CHECK(f->base.get_info(&f->base, 1, &info.v2_0) == 0);  // out of range

  REQUIRE(info.v2_0.param_count >= 1);
  NextParamInfo param{};
  param.v2_0.struct_size = sizeof(param);
  param.added = kSentinel;
  REQUIRE(f->base.get_param(&f->base, 0, 0, &param.v2_0));
  CHECK(param.v2_0.struct_size == sizeof(difss_param_info));
  CHECK(param.added == kSentinel);
  const std::string param_name = param.v2_0.name;

  NextPortInfo port{};
  port.v2_0.struct_size = sizeof(port);
  port.added = kSentinel;
  REQUIRE(f->base.get_port(&f->base, 0, 0, &port.v2_0));
  CHECK(port.v2_0.struct_size == sizeof(difss_port_info));
  CHECK(port.added == kSentinel);

  // A smaller caller struct (an older reader): only the prefix it has room for is written.
  difss_port_info small{};
  small.struct_size = offsetof(difss_port_info, dir);
  REQUIRE(f->base.get_port(&f->base, 0, 0, &small));
  CHECK(small.struct_size == offsetof(difss_port_info, dir));
  CHECK(small.name != nullptr);
  CHECK(small.format == nullptr);

  // create() with a longer parameter element (stride) and longer arguments.
  NextParam params[1]{};
  params[0].v2_0.struct_size = sizeof(NextParam);
  params[0].v2_0.name = param_name.c_str();
  params[0].v2_0.value = param.v2_0.default_value;
  params[0].added = kSentinel;
  NextCreateArgs args{};
  args.v2_0.struct_size = sizeof(args);
  args.v2_0.id = info.v2_0.id;
  args.v2_0.host = &host.v2_0;
  args.v2_0.params = &params[0].v2_0;
  args.v2_0.param_count = 1;
  args.v2_0.param_stride = sizeof(NextParam);
  CallContext ctx;
  const difss_condition* obj = nullptr;
  REQUIRE(f->create(f, &args.v2_0, &obj, ctx.get()) == DIFSS_OK);
  REQUIRE(obj != nullptr);
  CHECK(obj->get_extension(obj, "org.example.no-such-extension") == nullptr);

  // A longer input struct and a longer call context.
  cv::Mat img = square_image(6, 6), mask = square_mask(6, 6);
  DLView vi(img), vm(mask);
  NextConditionInput in{};
  in.v2_0 = {sizeof(in), vi.get(), vm.get(), 1, "cat", "pascal"};
  in.added = kSentinel;
  NextCall call{};
  call.v2_0 = *ctx.get();
  call.v2_0.struct_size = sizeof(call);
  DLManagedTensor* out = nullptr;
  REQUIRE(obj->generate(obj, &in.v2_0, &out, &call.v2_0) == DIFSS_OK);
  REQUIRE(out != nullptr);
  CHECK(out->dl_tensor.ndim == 3);
  out->deleter(out);
  obj->destroy(obj);
}
