// Conformance suite run over every plugin library in the build's plugin folder and the
// well-behaved test plugins:
//   - only `difss_plugin_entry` is exported;
//   - descriptor sanity: id, semver, name, unique parameter names, defaults inside their range
//     or enum, known port formats, the output ports its kind needs;
//   - create/destroy loops; bad parameters (wrong type, out of range, unknown name, bad enum)
//     rejected with INVALID_ARGUMENT, not a crash;
//   - one call on synthetic inputs: outputs follow the port conventions, their deleter is set
//     and the host's single call of it is the only one;
//   - the same inputs and seed give the same output; malformed inputs give a status, not a crash.
// Fixtures (plugins/<kind>/<name>/tests/conformance.toml) name the files a plugin needs to be
// created. The creation and calls of a plugin whose fixture reads the shared data run in a
// [shared] test case, reported skipped where that data is absent; any other fixture problem (a
// file the build should have written, a required parameter without a value) is a failure.
#include <difss/core/dl_views.hpp>
#include <difss/core/host_services.hpp>
#include <difss/core/pipeline.hpp>
#include <difss/core/registry.hpp>
#include <difss/sdk/owned_tensor.hpp>

#include "shared_data.hpp"

#include <catch2/catch.hpp>
#include <opencv2/imgproc.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <set>

namespace fs = std::filesystem;
using namespace difss;

namespace {

struct Fixture {
  nlohmann::json params = nlohmann::json::object();
  std::map<std::string, SourceLoc> locs;
  fs::path base;
  std::vector<fs::path> shared_files;  // files of the shared data it names, relative to that folder
  std::string missing_build_file;      // a ${DIFSS_BINARY_DIR} file that the build did not write
};

// plugin id -> fixture parameters, from every plugins/*/*/tests/conformance.toml.
const std::map<std::string, Fixture>& fixtures() {
  static const std::map<std::string, Fixture> all = [] {
    std::map<std::string, Fixture> out;
    fs::path root = fs::path(DIFSS_SOURCE_DIR) / "plugins";
    for (auto& kind : fs::directory_iterator(root)) {
      if (!kind.is_directory()) continue;
      for (auto& dir : fs::directory_iterator(kind.path())) {
        fs::path f = dir.path() / "tests" / "conformance.toml";
        if (!fs::exists(f)) continue;
        toml::table t = toml::parse_file(f.string());
        for (auto&& [id, v] : t) {
          Fixture fx;
          fx.base = f.parent_path();
          if (auto* params = v.as_table())
            for (auto&& [k, pv] : *params) {
              if (auto s = pv.value<std::string>()) {
                // "${DIFSS_SHARED_DIR}/..." names a file of the shared data, "${DIFSS_BINARY_DIR}/..."
                // one the build writes.
                std::string value = *s;
                const std::string shared_var = "${DIFSS_SHARED_DIR}/", build_var = "${DIFSS_BINARY_DIR}/";
                if (value.rfind(shared_var, 0) == 0) {
                  fx.shared_files.push_back(value.substr(shared_var.size()));
                  value = (difss::test::shared_dir() / fx.shared_files.back()).string();
                } else if (value.rfind(build_var, 0) == 0) {
                  value = (fs::path(DIFSS_BINARY_DIR) / value.substr(build_var.size())).string();
                  if (!fs::exists(value) && fx.missing_build_file.empty()) fx.missing_build_file = value;
                }
                fx.params[std::string(k.str())] = value;
              }
              else if (auto b = pv.as_boolean()) fx.params[std::string(k.str())] = b->get();
              else if (auto i = pv.as_integer()) fx.params[std::string(k.str())] = i->get();
              else if (auto d = pv.value<double>()) fx.params[std::string(k.str())] = *d;
            }
          out[std::string(id.str())] = fx;
        }
      }
    }
    return out;
  }();
  return all;
}

Registry& registry() {
  static Registry* reg = [] {
    auto* r = new Registry;
    DiscoveryOptions o;
    o.plugin_paths = {DIFSS_PLUGIN_BUILD_DIR, fs::path(DIFSS_TEST_PLUGIN_DIR) / "difss_test-basic.so"};
    o.use_environment = false;
    o.use_default_dirs = false;
    r->discover(o);
    return r;
  }();
  return *reg;
}

std::string exported_symbols(const fs::path& lib) {
  std::string cmd = "nm -D --defined-only '" + lib.string() + "' 2>&1";
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return "<nm failed>";
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), n);
  pclose(f);
  return out;
}

bool known_format(const std::string& f) {
  return f == DIFSS_FORMAT_IMAGE || f == DIFSS_FORMAT_MASK || f == DIFSS_FORMAT_PROB ||
         f == DIFSS_FORMAT_IMAGES || f == DIFSS_FORMAT_TEXT;
}

bool has_output(const Descriptor& d, const char* format) {
  for (uint32_t i = 0; i < d.port_count; ++i)
    if (d.ports[i].dir == DIFSS_PORT_OUT && std::string(d.ports[i].format) == format) return true;
  return false;
}

// Deleter bookkeeping: the host calls the plugin's deleter through this trampoline once.
std::map<DLManagedTensor*, int> g_deleted;
std::map<DLManagedTensor*, void (*)(DLManagedTensor*)> g_original;
void counting_deleter(DLManagedTensor* t) {
  ++g_deleted[t];
  g_original.at(t)(t);
}
void call_deleter_once(DLManagedTensor* t) {
  REQUIRE(t != nullptr);
  REQUIRE(t->deleter != nullptr);
  g_original[t] = t->deleter;
  t->deleter = &counting_deleter;
  t->deleter(t);
  CHECK(g_deleted[t] == 1);
  g_deleted.erase(t);
  g_original.erase(t);
}

void check_port(DLManagedTensor* t, const char* port, const char* format) {
  REQUIRE(t != nullptr);
  INFO("output port " << port);
  CHECK_NOTHROW(sdk::require_port(t->dl_tensor, port, format));
}

cv::Mat synthetic_image(int h, int w) {
  cv::Mat img(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b(uint8_t(x * 3), uint8_t(y * 2), uint8_t((x ^ y) & 255));
  cv::circle(img, {w / 2, h / 2}, h / 4, cv::Scalar(250, 40, 30), cv::FILLED);
  return img;
}
cv::Mat synthetic_mask(int h, int w) {
  cv::Mat m(h, w, CV_8UC1, cv::Scalar(0));
  cv::circle(m, {w / 2, h / 2}, h / 4, cv::Scalar(1), cv::FILLED);
  return m;
}

struct Outputs {
  std::vector<DLManagedTensor*> tensors;
  difss_status status = DIFSS_OK;
  std::string message;
};

// An instance as the factory returned it: the kind's struct (difss_condition*, ...).
using Object = const void*;

// One call of the instance on synthetic inputs (or malformed ones).
Outputs call_once(const Descriptor& d, Object obj, bool malformed) {
  const int h = 64, w = 96;
  cv::Mat img = synthetic_image(h, w), mask = synthetic_mask(h, w);
  cv::Mat wrong(h, w, CV_32FC1, cv::Scalar(0.5));  // float where uint8 RGB is expected
  DLView vi(malformed ? wrong : img), vm(mask);
  CallContext ctx;
  Outputs o;
  switch (d.kind) {
    case DIFSS_KIND_CONDITION: {
      auto* c = static_cast<const difss_condition*>(obj);
      difss_condition_input in{sizeof(in), vi.get(), vm.get(), 1, "aeroplane", "pascal"};
      DLManagedTensor* out = nullptr;
      o.status = c->generate(c, &in, &out, ctx.get());
      if (o.status == DIFSS_OK) o.tensors = {out};
      break;
    }
    case DIFSS_KIND_SAMPLER: {
      auto* s = static_cast<const difss_sampler*>(obj);
      difss_sampler_input in{sizeof(in), vi.get(), "a real shot photo of aeroplane", "", 1, "aeroplane", 7, 2};
      DLManagedTensor* out = nullptr;
      o.status = s->sample(s, &in, &out, ctx.get());
      if (o.status == DIFSS_OK) o.tensors = {out};
      break;
    }
    case DIFSS_KIND_SEGMENTER: {
      auto* g = static_cast<const difss_segmenter*>(obj);
      const DLTensor* imgs[] = {vi.get()};
      const DLTensor* masks[] = {vm.get()};
      difss_segmenter_input in{};
      in.struct_size = sizeof(in);
      in.query = vi.get();
      in.shot_count = 1;
      in.support_images = imgs;
      in.support_masks = masks;
      difss_segmenter_output out{};
      out.struct_size = sizeof(out);
      o.status = g->segment(g, &in, &out, ctx.get());
      if (o.status == DIFSS_OK) o.tensors = {out.prob, out.mask};
      break;
    }
  }
  o.message = ctx.message();
  return o;
}

void destroy(const Descriptor& d, Object obj) {
  switch (d.kind) {
    case DIFSS_KIND_CONDITION: static_cast<const difss_condition*>(obj)->destroy(static_cast<const difss_condition*>(obj)); break;
    case DIFSS_KIND_SAMPLER: static_cast<const difss_sampler*>(obj)->destroy(static_cast<const difss_sampler*>(obj)); break;
    case DIFSS_KIND_SEGMENTER: static_cast<const difss_segmenter*>(obj)->destroy(static_cast<const difss_segmenter*>(obj)); break;
  }
}

template <class CFactory, class CStruct>
difss_status create_as(const PluginInfo& p, const difss_create_args& args, Object& obj, difss_call* call) {
  const auto* f = reinterpret_cast<const CFactory*>(p.factory);
  const CStruct* o = nullptr;
  difss_status st = f->create(f, &args, &o, call);
  obj = o;
  return st;
}

difss_status try_create(const PluginInfo& p, const std::vector<difss_param>& params, Object& obj,
                        std::string* message = nullptr) {
  CallContext ctx;
  obj = nullptr;
  difss_create_args args{sizeof(args), p.id.c_str(), p.host, params.data(),
                         uint32_t(params.size()), uint32_t(sizeof(difss_param))};
  difss_status st = DIFSS_ERR_INTERNAL;
  switch (p.descriptor->kind) {
    case DIFSS_KIND_CONDITION: st = create_as<difss_condition_factory, difss_condition>(p, args, obj, ctx.get()); break;
    case DIFSS_KIND_SAMPLER: st = create_as<difss_sampler_factory, difss_sampler>(p, args, obj, ctx.get()); break;
    case DIFSS_KIND_SEGMENTER: st = create_as<difss_segmenter_factory, difss_segmenter>(p, args, obj, ctx.get()); break;
  }
  if (st != DIFSS_OK) CHECK(obj == nullptr);  // a failed create leaves no instance behind
  if (message) *message = ctx.message();
  return st;
}

const Fixture& fixture_of(const PluginInfo& p) {
  static const Fixture none;
  auto it = fixtures().find(p.id);
  return it == fixtures().end() ? none : it->second;
}

// The plugin's parameters: its fixture's, defaults for the rest. `errors` collects what keeps
// them from creating the plugin (a required parameter without a value, an unwritten build file).
ResolvedParams fixture_params(const PluginInfo& p, std::vector<std::string>& errors) {
  const Fixture& f = fixture_of(p);
  ResolvedParams rp = resolve_params(*p.descriptor, f.params, f.locs, SourceLoc{"conformance.toml", 1, 1}, f.base, errors);
  if (!f.missing_build_file.empty())
    errors.push_back("the fixture's file " + f.missing_build_file + " is absent (the build writes it)");
  return rp;
}

// create/destroy loops, two calls on the same inputs (same output, port conventions, deleters),
// one call on malformed inputs.
void check_creation_and_calls(const PluginInfo& p, const std::vector<difss_param>& good) {
  const Descriptor& d = *p.descriptor;
  for (int round = 0; round < 3; ++round) {
    Object obj = nullptr;
    std::string msg;
    const difss_status created = try_create(p, good, obj, &msg);
    INFO("creation message: " << msg);
    REQUIRE(created == DIFSS_OK);
    REQUIRE(obj != nullptr);
    destroy(d, obj);
  }
  Object obj = nullptr;
  std::string msg;
  REQUIRE(try_create(p, good, obj, &msg) == DIFSS_OK);
  // Unknown extension ids answer NULL (instance extensions are optional, by id).
  const char* no_such = "org.difss.no-such-extension/1";
  const void* ext = nullptr;
  switch (d.kind) {
    case DIFSS_KIND_CONDITION: { auto* o = static_cast<const difss_condition*>(obj); ext = o->get_extension(o, no_such); break; }
    case DIFSS_KIND_SAMPLER: { auto* o = static_cast<const difss_sampler*>(obj); ext = o->get_extension(o, no_such); break; }
    case DIFSS_KIND_SEGMENTER: { auto* o = static_cast<const difss_segmenter*>(obj); ext = o->get_extension(o, no_such); break; }
  }
  CHECK(ext == nullptr);
  Outputs a = call_once(d, obj, false);
  INFO("call message: " << a.message);
  REQUIRE(a.status == DIFSS_OK);
  Outputs b = call_once(d, obj, false);
  REQUIRE(b.status == DIFSS_OK);
  REQUIRE(a.tensors.size() == b.tensors.size());
  const char* formats[3][2] = {{DIFSS_FORMAT_IMAGE, ""}, {DIFSS_FORMAT_IMAGES, ""}, {DIFSS_FORMAT_PROB, DIFSS_FORMAT_MASK}};
  for (size_t k = 0; k < a.tensors.size(); ++k) {
    check_port(a.tensors[k], "output", formats[d.kind - 1][k]);
    cv::Mat ma = copy_to_mat(a.tensors[k]->dl_tensor), mb = copy_to_mat(b.tensors[k]->dl_tensor);
    INFO("deterministic output " << k);
    REQUIRE(ma.size() == mb.size());
    CHECK(cv::norm(ma, mb, cv::NORM_INF) == 0);
    call_deleter_once(a.tensors[k]);
    call_deleter_once(b.tensors[k]);
  }
  Outputs bad = call_once(d, obj, true);
  CHECK(bad.status == DIFSS_ERR_INVALID_ARGUMENT);
  CHECK_FALSE(bad.message.empty());
  destroy(d, obj);
}

}  // namespace

TEST_CASE("conformance: the plugin folder was scanned") {
  INFO("plugin folder " << DIFSS_PLUGIN_BUILD_DIR);
  CHECK(registry().plugins().size() >= 4);
  for (const auto& lib : registry().libraries()) {
    INFO(lib.path << ": " << lib.reason);
    CHECK(lib.accepted);  // every library the build produces must load
  }
}

TEST_CASE("conformance: every plugin") {
  for (const PluginInfo* p : registry().plugins()) {
    const Descriptor& d = *p->descriptor;
    DYNAMIC_SECTION(p->id) {
      // -- exported symbols
      std::string syms = exported_symbols(p->library);
      INFO("nm -D output:\n" << syms);
      CHECK(syms.find("difss_plugin_entry") != std::string::npos);
      size_t defined = 0;
      for (size_t pos = 0; (pos = syms.find('\n', pos)) != std::string::npos; ++pos) ++defined;
      CHECK(defined == 1);

      // -- descriptor sanity
      CHECK(std::string(d.name).size() > 0);
      CHECK(std::string(d.description).size() > 0);
      std::set<std::string> names;
      for (uint32_t i = 0; i < d.param_count; ++i) {
        const auto& s = d.params[i];
        INFO("parameter " << s.name);
        CHECK(names.insert(s.name).second);
        CHECK(std::string(s.doc).size() > 0);
        if (s.flags & DIFSS_PARAM_FLAG_REQUIRED) continue;
        if (s.flags & DIFSS_PARAM_FLAG_HAS_RANGE) {
          double x = s.type == DIFSS_PARAM_INT ? double(s.default_value.i) : s.default_value.f;
          CHECK(x >= s.min);
          CHECK(x <= s.max);
        }
        if (s.type == DIFSS_PARAM_ENUM) {
          bool found = false;
          for (uint32_t e = 0; e < s.enum_count; ++e) found |= std::string(s.enum_values[e]) == s.default_value.s;
          CHECK(found);
        }
      }
      for (uint32_t i = 0; i < d.port_count; ++i) CHECK(known_format(d.ports[i].format));
      if (d.kind == DIFSS_KIND_CONDITION) CHECK(has_output(d, DIFSS_FORMAT_IMAGE));
      if (d.kind == DIFSS_KIND_SAMPLER) CHECK(has_output(d, DIFSS_FORMAT_IMAGES));
      if (d.kind == DIFSS_KIND_SEGMENTER) CHECK((has_output(d, DIFSS_FORMAT_PROB) && has_output(d, DIFSS_FORMAT_MASK)));

      // -- parameters: fixture or defaults
      std::vector<std::string> errors;
      const ResolvedParams rp = fixture_params(*p, errors);
      const auto& shared_files = fixture_of(*p).shared_files;
      const bool reads_shared = !shared_files.empty();
      const bool shared_absent = std::any_of(shared_files.begin(), shared_files.end(), [](const fs::path& rel) {
        return !fs::exists(difss::test::shared_dir() / rel);
      });
      auto good = rp.c_params();

      // -- bad parameters: a status, never a crash
      for (uint32_t i = 0; i < d.param_count; ++i) {
        const auto& s = d.params[i];
        std::vector<difss_param> bad = good;
        difss_param wrong{};
        wrong.struct_size = sizeof(wrong);
        wrong.name = s.name;
        wrong.value.type = s.type == DIFSS_PARAM_BOOL ? DIFSS_PARAM_STRING : DIFSS_PARAM_BOOL;
        wrong.value.s = "not-a-value";
        bad.erase(std::remove_if(bad.begin(), bad.end(), [&](const difss_param& x) { return std::string(x.name) == s.name; }), bad.end());
        bad.push_back(wrong);
        Object obj = nullptr;
        std::string msg;
        INFO("wrong type for " << s.name);
        CHECK(try_create(*p, bad, obj, &msg) == DIFSS_ERR_INVALID_ARGUMENT);
        // A plugin that cannot be created (its fixture's shared files absent) may name those first.
        if (errors.empty() && !shared_absent) CHECK_THAT(msg, Catch::Contains(s.name));
        if (s.flags & DIFSS_PARAM_FLAG_HAS_RANGE) {
          bad.back().value.type = s.type;
          bad.back().value.i = int64_t(s.max) + 1000;
          bad.back().value.f = s.max + 1000.0;
          INFO("out of range for " << s.name);
          CHECK(try_create(*p, bad, obj) == DIFSS_ERR_INVALID_ARGUMENT);
        }
        if (s.type == DIFSS_PARAM_ENUM) {
          bad.back().value.type = DIFSS_PARAM_ENUM;
          bad.back().value.s = "no-such-choice";
          CHECK(try_create(*p, bad, obj) == DIFSS_ERR_INVALID_ARGUMENT);
        }
      }
      {
        std::vector<difss_param> bad = good;
        difss_param unknown{};
        unknown.struct_size = sizeof(unknown);
        unknown.name = "no_such_parameter";
        unknown.value.type = DIFSS_PARAM_INT;
        bad.push_back(unknown);
        Object obj = nullptr;
        CHECK(try_create(*p, bad, obj) == DIFSS_ERR_INVALID_ARGUMENT);
      }

      // -- creation and calls (for a fixture that reads the shared data: in the [shared] test case)
      INFO("fixture problems: " << (errors.empty() ? "none" : errors.front()));
      REQUIRE(errors.empty());
      if (!reads_shared) check_creation_and_calls(*p, good);
    }
  }
}

TEST_CASE("conformance: creation and calls of the plugins whose fixture reads the shared data", "[shared]") {
  for (const PluginInfo* p : registry().plugins()) {
    const Fixture& f = fixture_of(*p);
    if (f.shared_files.empty()) continue;
    DYNAMIC_SECTION(p->id) {
      bool missing = false;
      for (const auto& rel : f.shared_files) missing = missing || difss::test::shared_missing(rel);
      if (missing) continue;
      std::vector<std::string> errors;
      const ResolvedParams rp = fixture_params(*p, errors);
      INFO("fixture problems: " << (errors.empty() ? "none" : errors.front()));
      REQUIRE(errors.empty());
      check_creation_and_calls(*p, rp.c_params());
    }
  }
}
