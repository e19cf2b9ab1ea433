// The difss C++ SDK: write a plugin as a class plus one macro.
//
//   class MyCondition : public difss::sdk::Condition {
//    public:
//     static difss::sdk::Descriptor describe();                        // id, params, ports
//     MyCondition(const difss::sdk::Host& host, const difss::sdk::Params& params);
//     difss::sdk::OwnedTensor generate(const difss::sdk::ConditionInput& in,
//                                      difss::sdk::Call& call) override;
//   };
//   DIFSS_PLUGIN_LIBRARY("my-conditions", MyCondition)   // in exactly one .cpp of the library
//
// Exceptions thrown by plugin code (difss::sdk::Error, c10::Error, any std::exception, ...)
// become a status plus message at the ABI boundary; nothing crosses it. Header-only, no
// LibTorch or OpenCV here (see tensor_torch.hpp and tensor_opencv.hpp for conversions).
#pragma once

#include <difss/abi/difss.h>
#include <difss/abi/difss_entry.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <difss/sdk/error.hpp>
#include <difss/sdk/owned_tensor.hpp>
#include <difss/sdk/params.hpp>

#ifndef DIFSS_SDK_VERSION
#define DIFSS_SDK_VERSION "0.0.0"
#endif
#ifndef DIFSS_PLUGIN_TORCH_VERSION
#define DIFSS_PLUGIN_TORCH_VERSION ""
#endif

namespace difss::sdk {

// ------------------------------------------------------------------------------------------
// Host services seen from a plugin.
// ------------------------------------------------------------------------------------------
class Host {
 public:
  Host(const difss_host* host, std::string plugin_id) : host_(host), id_(std::move(plugin_id)) {}
  void log(difss_log_level level, const std::string& msg) const {
    if (host_ && host_->log) host_->log(host_, level, id_.c_str(), msg.c_str());
  }
  void debug(const std::string& m) const { log(DIFSS_LOG_DEBUG, m); }
  void info(const std::string& m) const { log(DIFSS_LOG_INFO, m); }
  void warn(const std::string& m) const { log(DIFSS_LOG_WARN, m); }
  void error(const std::string& m) const { log(DIFSS_LOG_ERROR, m); }
  std::string plugin_dir() const { return host_ && host_->plugin_dir ? host_->plugin_dir : ""; }
  // A file installed beside the plugin (difss_plugin_data): "<plugin dir>/<relative>" ("./..." when
  // the host gave no plugin folder).
  std::string beside_plugin(const std::string& relative) const {
    const std::string dir = plugin_dir();
    return (dir.empty() ? std::string(".") : dir) + "/" + relative;
  }
  std::string run_dir() const { return host_ && host_->run_dir ? host_->run_dir : ""; }
  int num_threads() const { return host_ ? host_->num_threads : 0; }
  const std::string& plugin_id() const { return id_; }
  const difss_host* raw() const { return host_; }

 private:
  const difss_host* host_;
  std::string id_;
};

// Per-call services: progress and cancellation.
class Call {
 public:
  explicit Call(difss_call* call) : call_(call) {}
  void progress(const char* what, uint64_t done, uint64_t total) const {
    if (call_ && call_->progress) call_->progress(call_, what, done, total);
  }
  bool cancelled() const { return call_ && call_->is_cancelled && call_->is_cancelled(call_); }
  // Throws Error(DIFSS_ERR_CANCELLED) when the host asked to stop.
  void check_cancelled() const {
    if (cancelled()) throw Error(DIFSS_ERR_CANCELLED, "cancelled by the host");
  }

 private:
  difss_call* call_;
};

// ------------------------------------------------------------------------------------------
// Descriptor builder: plain C++ values, turned into the immortal C structs by the SDK.
// ------------------------------------------------------------------------------------------
struct ParamDef {
  std::string name;
  difss_param_type type = DIFSS_PARAM_STRING;
  bool required = false;
  bool has_range = false;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  double min = 0, max = 0;
  std::vector<std::string> enum_values;
  std::string doc;

  static ParamDef boolean(std::string n, bool def, std::string doc) {
    ParamDef p{std::move(n), DIFSS_PARAM_BOOL};
    p.b = def;
    p.doc = std::move(doc);
    return p;
  }
  static ParamDef integer(std::string n, int64_t def, int64_t lo, int64_t hi, std::string doc) {
    ParamDef p{std::move(n), DIFSS_PARAM_INT};
    p.i = def;
    p.has_range = true;
    p.min = double(lo);
    p.max = double(hi);
    p.doc = std::move(doc);
    return p;
  }
  static ParamDef real(std::string n, double def, double lo, double hi, std::string doc) {
    ParamDef p{std::move(n), DIFSS_PARAM_FLOAT};
    p.f = def;
    p.has_range = true;
    p.min = lo;
    p.max = hi;
    p.doc = std::move(doc);
    return p;
  }
  static ParamDef string(std::string n, std::string def, std::string doc) {
    ParamDef p{std::move(n), DIFSS_PARAM_STRING};
    p.s = std::move(def);
    p.doc = std::move(doc);
    return p;
  }
  // A file path; an empty default means "not set" unless required().
  static ParamDef path(std::string n, std::string def, std::string doc) {
    ParamDef p{std::move(n), DIFSS_PARAM_PATH};
    p.s = std::move(def);
    p.doc = std::move(doc);
    return p;
  }
  static ParamDef enumeration(std::string n, std::vector<std::string> values, std::string def,
                              std::string doc) {
    ParamDef p{std::move(n), DIFSS_PARAM_ENUM};
    p.enum_values = std::move(values);
    p.s = std::move(def);
    p.doc = std::move(doc);
    return p;
  }
  ParamDef&& make_required() && {
    required = true;
    return std::move(*this);
  }
};

struct PortDef {
  std::string name;
  difss_port_dir dir;
  std::string format;
  std::string doc;
};

struct Descriptor {
  std::string id, name, description, version;
  std::vector<ParamDef> params;
  std::vector<PortDef> ports;

  Descriptor& param(ParamDef p) {
    params.push_back(std::move(p));
    return *this;
  }
  Descriptor& input(std::string n, std::string format, std::string doc) {
    ports.push_back({std::move(n), DIFSS_PORT_IN, std::move(format), std::move(doc)});
    return *this;
  }
  Descriptor& output(std::string n, std::string format, std::string doc) {
    ports.push_back({std::move(n), DIFSS_PORT_OUT, std::move(format), std::move(doc)});
    return *this;
  }
};

// ------------------------------------------------------------------------------------------
// The three kinds. Inputs are views of the C structs; tensors stay borrowed.
// ------------------------------------------------------------------------------------------
struct ConditionInput {
  const DLTensor& image;
  const DLTensor& mask;
  int class_id;
  std::string class_name;
  std::string class_set;
};

class Condition {
 public:
  static constexpr difss_kind kind = DIFSS_KIND_CONDITION;
  virtual ~Condition() = default;
  virtual OwnedTensor generate(const ConditionInput& in, Call& call) = 0;
};

struct SamplerInput {
  const DLTensor& control;
  std::string prompt, negative_prompt;
  int class_id;
  std::string class_name;
  uint64_t seed;
  uint32_t count;
};

class Sampler {
 public:
  static constexpr difss_kind kind = DIFSS_KIND_SAMPLER;
  virtual ~Sampler() = default;
  virtual OwnedTensor sample(const SamplerInput& in, Call& call) = 0;
};

struct SegmenterInput {
  const DLTensor& query;
  std::vector<const DLTensor*> support_images;
  std::vector<const DLTensor*> support_masks;
  std::vector<bool> support_is_auxiliary;
  size_t shots() const { return support_images.size(); }
};

struct SegmenterOutput {
  OwnedTensor prob;  // float32 [H, W] in [0, 1]
  OwnedTensor mask;  // uint8 [H, W], 0/1
};

class Segmenter {
 public:
  static constexpr difss_kind kind = DIFSS_KIND_SEGMENTER;
  virtual ~Segmenter() = default;
  virtual SegmenterOutput segment(const SegmenterInput& in, Call& call) = 0;
};

namespace detail {

// Turns a plugin exception into status + message on the call's error sink.
template <class F>
difss_status guarded(difss_call* call, F&& f) noexcept {
  auto report = [call](difss_status st, const char* msg) {
    if (call && call->set_error) call->set_error(call, st, msg);
    return st;
  };
  try {
    f();
    return DIFSS_OK;
  } catch (const Error& e) {
    return report(e.status(), e.what());
  } catch (const std::bad_alloc&) {
    return report(DIFSS_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::invalid_argument& e) {
    return report(DIFSS_ERR_INVALID_ARGUMENT, trim_backtrace(e.what()).c_str());
  } catch (const std::exception& e) {  // includes c10::Error (its what() carries a backtrace)
    return report(DIFSS_ERR_INTERNAL, trim_backtrace(e.what()).c_str());
  } catch (...) {
    return report(DIFSS_ERR_INTERNAL, "unknown exception (not derived from std::exception)");
  }
}

// Immortal C view of a Descriptor: owns every string and array the C structs point into.
struct CDescriptor {
  Descriptor src;
  std::deque<std::string> strings;
  std::deque<std::vector<const char*>> string_arrays;
  std::vector<difss_param_spec> params;
  std::vector<difss_port_spec> ports;
  difss_build_fingerprint fingerprint{};
  difss_descriptor desc{};

  const char* keep(const std::string& s) { return strings.emplace_back(s).c_str(); }

  explicit CDescriptor(Descriptor d, difss_kind kind) : src(std::move(d)) {
    for (const auto& p : src.params) {
      difss_param_spec c{};
      c.struct_size = sizeof(c);
      c.name = keep(p.name);
      c.type = p.type;
      c.flags = (p.required ? DIFSS_PARAM_FLAG_REQUIRED : 0u) |
                (p.has_range ? DIFSS_PARAM_FLAG_HAS_RANGE : 0u);
      c.default_value.type = p.type;
      c.default_value.b = p.b ? 1 : 0;
      c.default_value.i = p.i;
      c.default_value.f = p.f;
      c.default_value.s = keep(p.s);
      c.min = p.min;
      c.max = p.max;
      auto& arr = string_arrays.emplace_back();
      for (const auto& e : p.enum_values) arr.push_back(keep(e));
      c.enum_values = arr.empty() ? nullptr : arr.data();
      c.enum_count = uint32_t(arr.size());
      c.doc = keep(p.doc);
      params.push_back(c);
    }
    for (const auto& p : src.ports) {
      difss_port_spec c{};
      c.struct_size = sizeof(c);
      c.name = keep(p.name);
      c.dir = p.dir;
      c.format = keep(p.format);
      c.doc = keep(p.doc);
      ports.push_back(c);
    }
    fingerprint.struct_size = sizeof(fingerprint);
    fingerprint.compiler = keep(compiler_string());
#if defined(_GLIBCXX_USE_CXX11_ABI)
    fingerprint.cxx11_abi = _GLIBCXX_USE_CXX11_ABI;
#else
    fingerprint.cxx11_abi = -1;
#endif
    fingerprint.torch_version = keep(DIFSS_PLUGIN_TORCH_VERSION);
    fingerprint.sdk_version = keep(DIFSS_SDK_VERSION);
    desc.struct_size = sizeof(desc);
    desc.id = keep(src.id);
    desc.name = keep(src.name);
    desc.description = keep(src.description);
    desc.kind = kind;
    desc.version = keep(src.version);
    desc.params = params.empty() ? nullptr : params.data();
    desc.param_count = uint32_t(params.size());
    desc.ports = ports.empty() ? nullptr : ports.data();
    desc.port_count = uint32_t(ports.size());
    desc.fingerprint = &fingerprint;
  }

  static std::string compiler_string() {
#if defined(__clang__)
    return "Clang " __clang_version__;
#elif defined(__GNUC__)
    return "GCC " __VERSION__;
#else
    return "unknown";
#endif
  }
};

// One registered plugin class: its descriptor and how to build it.
struct Registration {
  difss_kind kind;
  const CDescriptor* (*descriptor)();
  void* (*create)(const difss_host*, const Params&);  // returns the kind's base pointer
};

template <class T>
const CDescriptor* descriptor_of() {
  // Leaked on purpose: descriptors must outlive everything (libraries are never unloaded).
  static const CDescriptor* d = new CDescriptor(T::describe(), T::kind);
  return d;
}

template <class Base>
struct Vtables;

template <>
struct Vtables<Condition> {
  static difss_status generate(void* self, const difss_condition_input* in, DLManagedTensor** out,
                               difss_call* call) {
    return guarded(call, [&] {
      if (!in || !in->image || !in->mask || !out)
        throw Error(DIFSS_ERR_INVALID_ARGUMENT, "generate: null input or output pointer");
      *out = nullptr;
      ConditionInput ci{*in->image, *in->mask, in->class_id, in->class_name ? in->class_name : "",
                        in->class_set ? in->class_set : ""};
      Call c(call);
      OwnedTensor t = static_cast<Condition*>(self)->generate(ci, c);
      *out = t.release();
    });
  }
  static void destroy(void* self) { delete static_cast<Condition*>(self); }
  static const difss_condition_vtable* get() {
    static const difss_condition_vtable v{sizeof(difss_condition_vtable), &generate, &destroy};
    return &v;
  }
};

template <>
struct Vtables<Sampler> {
  static difss_status sample(void* self, const difss_sampler_input* in, DLManagedTensor** out,
                             difss_call* call) {
    return guarded(call, [&] {
      if (!in || !in->control || !out)
        throw Error(DIFSS_ERR_INVALID_ARGUMENT, "sample: null input or output pointer");
      *out = nullptr;
      if (in->count < 1) throw Error(DIFSS_ERR_INVALID_ARGUMENT, "sample: count must be >= 1");
      SamplerInput si{*in->control,
                      in->prompt ? in->prompt : "",
                      in->negative_prompt ? in->negative_prompt : "",
                      in->class_id,
                      in->class_name ? in->class_name : "",
                      in->seed,
                      in->count};
      Call c(call);
      OwnedTensor t = static_cast<Sampler*>(self)->sample(si, c);
      *out = t.release();
    });
  }
  static void destroy(void* self) { delete static_cast<Sampler*>(self); }
  static const difss_sampler_vtable* get() {
    static const difss_sampler_vtable v{sizeof(difss_sampler_vtable), &sample, &destroy};
    return &v;
  }
};

template <>
struct Vtables<Segmenter> {
  static difss_status segment(void* self, const difss_segmenter_input* in, DLManagedTensor** prob,
                              DLManagedTensor** mask, difss_call* call) {
    return guarded(call, [&] {
      if (!in || !in->query || !prob || !mask)
        throw Error(DIFSS_ERR_INVALID_ARGUMENT, "segment: null input or output pointer");
      *prob = nullptr;
      *mask = nullptr;
      if (in->shot_count < 1 || !in->support_images || !in->support_masks)
        throw Error(DIFSS_ERR_INVALID_ARGUMENT, "segment: at least one support is required");
      SegmenterInput si{*in->query, {}, {}, {}};
      for (uint32_t k = 0; k < in->shot_count; ++k) {
        if (!in->support_images[k] || !in->support_masks[k])
          throw Error(DIFSS_ERR_INVALID_ARGUMENT,
                      "segment: support " + std::to_string(k) + " is null");
        si.support_images.push_back(in->support_images[k]);
        si.support_masks.push_back(in->support_masks[k]);
        si.support_is_auxiliary.push_back(in->support_is_auxiliary && in->support_is_auxiliary[k]);
      }
      Call c(call);
      SegmenterOutput o = static_cast<Segmenter*>(self)->segment(si, c);
      if (!o.prob || !o.mask) throw Error(DIFSS_ERR_INTERNAL, "segment: plugin returned no output");
      *prob = o.prob.release();
      *mask = o.mask.release();
    });
  }
  static void destroy(void* self) { delete static_cast<Segmenter*>(self); }
  static const difss_segmenter_vtable* get() {
    static const difss_segmenter_vtable v{sizeof(difss_segmenter_vtable), &segment, &destroy};
    return &v;
  }
};

template <class T>
struct BaseOf {
  using type = std::conditional_t<
      std::is_base_of_v<Condition, T>, Condition,
      std::conditional_t<std::is_base_of_v<Sampler, T>, Sampler, Segmenter>>;
};

template <class T>
Registration registration_of() {
  using Base = typename BaseOf<T>::type;
  static_assert(std::is_base_of_v<Base, T>, "a plugin class derives from Condition, Sampler or Segmenter");
  return Registration{T::kind, &descriptor_of<T>, [](const difss_host* h, const Params& p) -> void* {
                        Host host(h, descriptor_of<T>()->src.id);
                        Base* obj = new T(host, p);
                        return obj;
                      }};
}

inline const void* vtable_for(difss_kind kind) {
  switch (kind) {
    case DIFSS_KIND_CONDITION: return Vtables<Condition>::get();
    case DIFSS_KIND_SAMPLER: return Vtables<Sampler>::get();
    case DIFSS_KIND_SEGMENTER: return Vtables<Segmenter>::get();
  }
  return nullptr;
}

// The plugin library: its classes, the three factories and the entry functions.
template <class... Ts>
struct Library {
  static const std::vector<Registration>& all() {
    static const std::vector<Registration> regs{registration_of<Ts>()...};
    return regs;
  }
  static std::vector<const Registration*> of_kind(difss_kind k) {
    std::vector<const Registration*> out;
    for (const auto& r : all())
      if (r.kind == k) out.push_back(&r);
    return out;
  }

  template <difss_kind K>
  struct Factory {
    static uint32_t count() { return uint32_t(of_kind(K).size()); }
    static const difss_descriptor* descriptor(uint32_t i) {
      auto regs = of_kind(K);
      return i < regs.size() ? &regs[i]->descriptor()->desc : nullptr;
    }
    static difss_status create(const char* id, const difss_host* host, const difss_param* params,
                               uint32_t n, difss_object* out, difss_call* call) {
      return guarded(call, [&] {
        if (!id || !out) throw Error(DIFSS_ERR_INVALID_ARGUMENT, "create: null id or output");
        out->self = nullptr;
        out->vtable = nullptr;
        for (const Registration* r : of_kind(K)) {
          const CDescriptor* d = r->descriptor();
          if (d->src.id != id) continue;
          Params p(d->src.id, params, n);
          p.check_against(d->desc);
          out->self = r->create(host, p);
          out->vtable = vtable_for(K);
          return;
        }
        throw Error(DIFSS_ERR_NOT_FOUND, std::string("no plugin with id '") + id + "' here");
      });
    }
    static const difss_factory* get() {
      static const difss_factory f{sizeof(difss_factory), K, &count, &descriptor, &create};
      return &f;
    }
  };

  static inline std::atomic<int> refcount{0};
  static int init(const char*) noexcept {
    try {
      for (const auto& r : all()) r.descriptor();  // build descriptors eagerly; surfaces errors
      ++refcount;
      return 1;
    } catch (...) {
      return 0;
    }
  }
  static void deinit() noexcept {
    if (refcount > 0) --refcount;
  }
  static const difss_factory* get_factory(const char* id) noexcept {
    if (!id) return nullptr;
    if (std::strcmp(id, DIFSS_FACTORY_CONDITION) == 0 && Factory<DIFSS_KIND_CONDITION>::count())
      return Factory<DIFSS_KIND_CONDITION>::get();
    if (std::strcmp(id, DIFSS_FACTORY_SAMPLER) == 0 && Factory<DIFSS_KIND_SAMPLER>::count())
      return Factory<DIFSS_KIND_SAMPLER>::get();
    if (std::strcmp(id, DIFSS_FACTORY_SEGMENTER) == 0 && Factory<DIFSS_KIND_SEGMENTER>::count())
      return Factory<DIFSS_KIND_SEGMENTER>::get();
    return nullptr;
  }
  static const void* get_extension(const char*) noexcept { return nullptr; }
};

}  // namespace detail
}  // namespace difss::sdk

// Defines the library's one exported symbol. Use once per plugin library, in one .cpp file.
#define DIFSS_PLUGIN_LIBRARY(library_name, ...)                                                   \
  extern "C" __attribute__((visibility("default"))) const difss_plugin_entry_t difss_plugin_entry = { \
      sizeof(difss_plugin_entry_t),                                                               \
      DIFSS_ABI_VERSION_MAJOR,                                                                    \
      0,                                                                                          \
      library_name,                                                                               \
      &::difss::sdk::detail::Library<__VA_ARGS__>::init,                                          \
      &::difss::sdk::detail::Library<__VA_ARGS__>::deinit,                                        \
      &::difss::sdk::detail::Library<__VA_ARGS__>::get_factory,                                   \
      &::difss::sdk::detail::Library<__VA_ARGS__>::get_extension};
