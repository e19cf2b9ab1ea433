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
  // The intra-op thread count the host configured (0 when unknown). Never change it.
  int num_threads() const { return host_ && host_->num_threads ? host_->num_threads(host_) : 0; }
  // A host extension by id, or nullptr.
  const void* extension(const char* id) const {
    return host_ && host_->get_extension ? host_->get_extension(host_, id) : nullptr;
  }
  const std::string& plugin_id() const { return id_; }
  const difss_host* raw() const { return host_; }

 private:
  const difss_host* host_;
  std::string id_;
};

// Per-call services: progress, cancellation, the per-run values.
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
  // The current run's output folder ("" outside a run).
  std::string run_dir() const {
    return call_ && DIFSS_HAS_FIELD(call_, difss_call, run_dir) && call_->run_dir ? call_->run_dir : "";
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
    ParamDef p;
    p.name = std::move(n);
    p.type = DIFSS_PARAM_BOOL;
    p.b = def;
    p.doc = std::move(doc);
    return p;
  }
  static ParamDef integer(std::string n, int64_t def, int64_t lo, int64_t hi, std::string doc) {
    ParamDef p;
    p.name = std::move(n);
    p.type = DIFSS_PARAM_INT;
    p.i = def;
    p.has_range = true;
    p.min = double(lo);
    p.max = double(hi);
    p.doc = std::move(doc);
    return p;
  }
  static ParamDef real(std::string n, double def, double lo, double hi, std::string doc) {
    ParamDef p;
    p.name = std::move(n);
    p.type = DIFSS_PARAM_FLOAT;
    p.f = def;
    p.has_range = true;
    p.min = lo;
    p.max = hi;
    p.doc = std::move(doc);
    return p;
  }
  static ParamDef string(std::string n, std::string def, std::string doc) {
    ParamDef p;
    p.name = std::move(n);
    p.type = DIFSS_PARAM_STRING;
    p.s = std::move(def);
    p.doc = std::move(doc);
    return p;
  }
  // A file path; an empty default means "not set" unless required().
  static ParamDef path(std::string n, std::string def, std::string doc) {
    ParamDef p;
    p.name = std::move(n);
    p.type = DIFSS_PARAM_PATH;
    p.s = std::move(def);
    p.doc = std::move(doc);
    return p;
  }
  static ParamDef enumeration(std::string n, std::vector<std::string> values, std::string def,
                              std::string doc) {
    ParamDef p;
    p.name = std::move(n);
    p.type = DIFSS_PARAM_ENUM;
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
// The three kinds. Inputs are views of the C structs; tensors stay borrowed. Every kind may
// offer instance extensions (difss.h: get_extension) by overriding extension().
// ------------------------------------------------------------------------------------------
class Extensible {
 public:
  virtual ~Extensible() = default;
  // An extension struct of this instance by id, or nullptr (the default: none).
  virtual const void* extension(const char* /*id*/) const { return nullptr; }
};

struct ConditionInput {
  const DLTensor& image;
  const DLTensor& mask;
  int class_id;
  std::string class_name;
  std::string class_set;
};

class Condition : public Extensible {
 public:
  static constexpr difss_kind kind = DIFSS_KIND_CONDITION;
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

class Sampler : public Extensible {
 public:
  static constexpr difss_kind kind = DIFSS_KIND_SAMPLER;
  virtual OwnedTensor sample(const SamplerInput& in, Call& call) = 0;
};

struct SegmenterInput {
  const DLTensor& query;
  std::vector<const DLTensor*> support_images;
  std::vector<const DLTensor*> support_masks;
  // true = an auxiliary (generated) support; see difss_segmenter_input in difss.h.
  std::vector<bool> support_is_auxiliary;
  // Where the prediction is wanted (difss_output_size). A segmenter that only predicts at the
  // query's size may ignore it: the SDK then answers DIFSS_ERR_UNSUPPORTED for EXPLICIT sizes
  // that differ from the query's and accepts the query size for MODEL_INPUT.
  difss_output_size output_size = DIFSS_OUTPUT_QUERY;
  int output_height = 0, output_width = 0;
  size_t shots() const { return support_images.size(); }
  int query_height() const { return int(query.shape[0]); }
  int query_width() const { return int(query.shape[1]); }
};

struct SegmenterOutput {
  OwnedTensor prob;  // float32 [H, W] in [0, 1]
  OwnedTensor mask;  // uint8 [H, W], 0/1
};

class Segmenter : public Extensible {
 public:
  static constexpr difss_kind kind = DIFSS_KIND_SEGMENTER;
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

// Growth rule (b) of difss.h: copy what fits into the caller's struct, report what was filled.
template <class T>
void fill_prefix(const T& full, T* out) {
  const uint32_t n = out->struct_size < sizeof(T) ? out->struct_size : uint32_t(sizeof(T));
  if (n < sizeof(uint32_t)) return;  // not even room for struct_size
  std::memcpy(reinterpret_cast<char*>(out) + sizeof(uint32_t),
              reinterpret_cast<const char*>(&full) + sizeof(uint32_t), n - sizeof(uint32_t));
  out->struct_size = n;
}

#if defined(__clang__)
#define DIFSS_SDK_COMPILER "Clang " __clang_version__
#elif defined(__GNUC__)
#define DIFSS_SDK_COMPILER "GCC " __VERSION__
#else
#define DIFSS_SDK_COMPILER "unknown"
#endif

// The library's build fingerprint (one per library: every class in it shares the build).
// Constant-initialised, so the entry that points at it is ready before any code runs.
inline const difss_build_fingerprint kFingerprint = {sizeof(difss_build_fingerprint),
                                                     DIFSS_SDK_COMPILER,
#if defined(_GLIBCXX_USE_CXX11_ABI)
                                                     _GLIBCXX_USE_CXX11_ABI,
#else
                                                     -1,
#endif
                                                     DIFSS_PLUGIN_TORCH_VERSION, DIFSS_SDK_VERSION};

// Immortal C view of a Descriptor: owns every string and array the C structs point into.
struct CDescriptor {
  Descriptor src;
  std::deque<std::string> strings;
  std::deque<std::vector<const char*>> string_arrays;
  std::vector<difss_param_info> params;
  std::vector<difss_port_info> ports;
  difss_plugin_info info{};
  // What Params::check_against reads (a description with params/param_count).
  struct ParamView {
    const difss_param_info* params;
    uint32_t param_count;
  } desc{};

  const char* keep(const std::string& s) { return strings.emplace_back(s).c_str(); }

  explicit CDescriptor(Descriptor d, difss_kind kind) : src(std::move(d)) {
    for (const auto& p : src.params) {
      difss_param_info c{};
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
      difss_port_info c{};
      c.struct_size = sizeof(c);
      c.name = keep(p.name);
      c.dir = p.dir;
      c.format = keep(p.format);
      c.doc = keep(p.doc);
      ports.push_back(c);
    }
    info.struct_size = sizeof(info);
    info.id = keep(src.id);
    info.name = keep(src.name);
    info.description = keep(src.description);
    info.kind = kind;
    info.version = keep(src.version);
    info.param_count = uint32_t(params.size());
    info.port_count = uint32_t(ports.size());
    desc.params = params.empty() ? nullptr : params.data();
    desc.param_count = uint32_t(params.size());
  }
};

template <class T>
const CDescriptor* descriptor_of() {
  // Leaked on purpose: descriptions must outlive everything (libraries are never unloaded).
  static const CDescriptor* d = new CDescriptor(T::describe(), T::kind);
  return d;
}

// One registered plugin class: its description and how to build it.
struct Registration {
  difss_kind kind;
  const CDescriptor* (*descriptor)();
  Extensible* (*create)(const difss_host*, const Params&);  // the kind's base object
};

// Per kind: the C instance struct, its functions, and the factory struct.
template <class Base>
struct KindTraits;

// An instance: the C struct the host sees, and the C++ object behind it.
template <class Base, class CStruct>
struct Box {
  CStruct c{};
  std::unique_ptr<Base> obj;
  static Base& of(const CStruct* self) { return *static_cast<Box*>(self->plugin_data)->obj; }
  static const void* DIFSS_ABI_CALL get_extension(const CStruct* self, const char* id) {
    if (!self || !id) return nullptr;
    try {
      return of(self).extension(id);
    } catch (...) {
      return nullptr;
    }
  }
  static void DIFSS_ABI_CALL destroy(const CStruct* self) {
    if (self) delete static_cast<Box*>(self->plugin_data);
  }
};

template <>
struct KindTraits<Condition> {
  using CStruct = difss_condition;
  using CFactory = difss_condition_factory;
  using B = Box<Condition, CStruct>;
  static difss_status DIFSS_ABI_CALL generate(const CStruct* self, const difss_condition_input* in,
                                              DLManagedTensor** out, difss_call* call) {
    if (out) *out = nullptr;
    return guarded(call, [&] {
      if (!self || !in || !in->image || !in->mask || !out)
        throw Error(DIFSS_ERR_INVALID_ARGUMENT, "generate: null input or output pointer");
      ConditionInput ci{*in->image, *in->mask, in->class_id, in->class_name ? in->class_name : "",
                        in->class_set ? in->class_set : ""};
      Call c(call);
      OwnedTensor t = B::of(self).generate(ci, c);
      *out = t.release();
    });
  }
  static void fill(CStruct& c) {
    c.struct_size = sizeof(CStruct);
    c.generate = &generate;
    c.get_extension = &B::get_extension;
    c.destroy = &B::destroy;
  }
};

template <>
struct KindTraits<Sampler> {
  using CStruct = difss_sampler;
  using CFactory = difss_sampler_factory;
  using B = Box<Sampler, CStruct>;
  static difss_status DIFSS_ABI_CALL sample(const CStruct* self, const difss_sampler_input* in,
                                            DLManagedTensor** out, difss_call* call) {
    if (out) *out = nullptr;
    return guarded(call, [&] {
      if (!self || !in || !in->control || !out)
        throw Error(DIFSS_ERR_INVALID_ARGUMENT, "sample: null input or output pointer");
      if (in->count < 1) throw Error(DIFSS_ERR_INVALID_ARGUMENT, "sample: count must be >= 1");
      SamplerInput si{*in->control,
                      in->prompt ? in->prompt : "",
                      in->negative_prompt ? in->negative_prompt : "",
                      in->class_id,
                      in->class_name ? in->class_name : "",
                      in->seed,
                      in->count};
      Call c(call);
      OwnedTensor t = B::of(self).sample(si, c);
      *out = t.release();
    });
  }
  static void fill(CStruct& c) {
    c.struct_size = sizeof(CStruct);
    c.sample = &sample;
    c.get_extension = &B::get_extension;
    c.destroy = &B::destroy;
  }
};

// The size a segmenter's outputs must have for this request, or {-1, -1} when any single size
// is acceptable (MODEL_INPUT: the plugin decides).
inline std::pair<int64_t, int64_t> expected_output_size(const SegmenterInput& in) {
  switch (in.output_size) {
    case DIFSS_OUTPUT_QUERY: return {in.query_height(), in.query_width()};
    case DIFSS_OUTPUT_EXPLICIT: return {in.output_height, in.output_width};
    case DIFSS_OUTPUT_MODEL_INPUT: break;
  }
  return {-1, -1};
}

template <>
struct KindTraits<Segmenter> {
  using CStruct = difss_segmenter;
  using CFactory = difss_segmenter_factory;
  using B = Box<Segmenter, CStruct>;
  static difss_status DIFSS_ABI_CALL segment(const CStruct* self, const difss_segmenter_input* in,
                                             difss_segmenter_output* out, difss_call* call) {
    if (out && out->struct_size >= sizeof(difss_segmenter_output)) out->prob = out->mask = nullptr;
    return guarded(call, [&] {
      if (!self || !in || !in->query || !out || out->struct_size < sizeof(difss_segmenter_output))
        throw Error(DIFSS_ERR_INVALID_ARGUMENT, "segment: null or too small input or output");
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
      if (DIFSS_HAS_FIELD(in, difss_segmenter_input, output_width)) {
        si.output_size = in->output_size;
        si.output_height = int(in->output_height);
        si.output_width = int(in->output_width);
      }
      if (si.output_size == DIFSS_OUTPUT_EXPLICIT && (si.output_height < 1 || si.output_width < 1))
        throw Error(DIFSS_ERR_INVALID_ARGUMENT, "segment: an explicit output size must be >= 1x1");
      if (si.query.ndim != 3)
        throw Error(DIFSS_ERR_INVALID_ARGUMENT, "segment: the query must be [H, W, 3]");
      Call c(call);
      SegmenterOutput o = B::of(self).segment(si, c);
      if (!o.prob || !o.mask) throw Error(DIFSS_ERR_INTERNAL, "segment: plugin returned no output");
      const DLTensor &p = o.prob.dl(), &m = o.mask.dl();
      if (p.ndim != 2 || m.ndim != 2 || p.shape[0] != m.shape[0] || p.shape[1] != m.shape[1])
        throw Error(DIFSS_ERR_INTERNAL,
                    "segment: the plugin broke the output contract: prob and mask must be 2-D "
                    "and of one size");
      auto [h, w] = expected_output_size(si);
      if (h > 0 && (p.shape[0] != h || p.shape[1] != w))
        throw Error(si.output_size == DIFSS_OUTPUT_QUERY ? DIFSS_ERR_INTERNAL : DIFSS_ERR_UNSUPPORTED,
                    "segment: outputs are " + std::to_string(p.shape[1]) + "x" +
                        std::to_string(p.shape[0]) + " but " + std::to_string(w) + "x" +
                        std::to_string(h) + " was asked for" +
                        (si.output_size == DIFSS_OUTPUT_QUERY
                             ? std::string()
                             : std::string(" (this segmenter predicts at the query's size only)")));
      out->prob = o.prob.release();
      out->mask = o.mask.release();
    });
  }
  static void fill(CStruct& c) {
    c.struct_size = sizeof(CStruct);
    c.segment = &segment;
    c.get_extension = &B::get_extension;
    c.destroy = &B::destroy;
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
  return Registration{T::kind, &descriptor_of<T>,
                      [](const difss_host* h, const Params& p) -> Extensible* {
                        Host host(h, descriptor_of<T>()->src.id);
                        Base* obj = new T(host, p);
                        return obj;
                      }};
}

template <class Base>
constexpr difss_kind kind_of() {
  return Base::kind;
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

  template <class Base>
  struct Factory {
    using Traits = KindTraits<Base>;
    using CStruct = typename Traits::CStruct;
    using CFactory = typename Traits::CFactory;
    static constexpr difss_kind K = Base::kind;

    static const CDescriptor* at(uint32_t i) {
      auto regs = of_kind(K);
      return i < regs.size() ? regs[i]->descriptor() : nullptr;
    }
    static uint32_t DIFSS_ABI_CALL count(const difss_factory_base*) {
      return uint32_t(of_kind(K).size());
    }
    static int DIFSS_ABI_CALL get_info(const difss_factory_base*, uint32_t i, difss_plugin_info* out) {
      const CDescriptor* d = at(i);
      if (!d || !out) return 0;
      fill_prefix(d->info, out);
      return 1;
    }
    static int DIFSS_ABI_CALL get_param(const difss_factory_base*, uint32_t i, uint32_t k,
                                        difss_param_info* out) {
      const CDescriptor* d = at(i);
      if (!d || !out || k >= d->params.size()) return 0;
      fill_prefix(d->params[k], out);
      return 1;
    }
    static int DIFSS_ABI_CALL get_port(const difss_factory_base*, uint32_t i, uint32_t k,
                                       difss_port_info* out) {
      const CDescriptor* d = at(i);
      if (!d || !out || k >= d->ports.size()) return 0;
      fill_prefix(d->ports[k], out);
      return 1;
    }
    static difss_status DIFSS_ABI_CALL create(const CFactory*, const difss_create_args* args,
                                              const CStruct** out, difss_call* call) {
      if (out) *out = nullptr;
      return guarded(call, [&] {
        if (!args || !args->id || !out)
          throw Error(DIFSS_ERR_INVALID_ARGUMENT, "create: null arguments or output");
        for (const Registration* r : of_kind(K)) {
          const CDescriptor* d = r->descriptor();
          if (d->src.id != args->id) continue;
          Params p(d->src.id, args->params, args->param_count, args->param_stride);
          p.check_against(d->desc);
          auto box = std::make_unique<Box<Base, CStruct>>();
          box->obj.reset(static_cast<Base*>(r->create(args->host, p)));
          Traits::fill(box->c);
          box->c.plugin_data = box.get();
          *out = &box.release()->c;
          return;
        }
        throw Error(DIFSS_ERR_NOT_FOUND, std::string("no plugin with id '") + args->id + "' here");
      });
    }
    static const CFactory* get() {
      static const CFactory f = [] {
        CFactory x{};
        x.base.struct_size = sizeof(CFactory);
        x.base.count = &count;
        x.base.get_info = &get_info;
        x.base.get_param = &get_param;
        x.base.get_port = &get_port;
        x.create = &create;
        return x;
      }();
      return &f;
    }
  };

  static int DIFSS_ABI_CALL init(const difss_host*) noexcept {
    try {
      for (const auto& r : all()) r.descriptor();  // build descriptions eagerly; surfaces errors
      return 1;
    } catch (...) {
      return 0;
    }
  }
  // Nothing to free: descriptions are immortal by contract (libraries are never unloaded).
  static void DIFSS_ABI_CALL deinit() noexcept {}
  static const void* DIFSS_ABI_CALL get_factory(const char* id) noexcept {
    if (!id) return nullptr;
    if (std::strcmp(id, DIFSS_FACTORY_CONDITION) == 0 && !of_kind(DIFSS_KIND_CONDITION).empty())
      return Factory<Condition>::get();
    if (std::strcmp(id, DIFSS_FACTORY_SAMPLER) == 0 && !of_kind(DIFSS_KIND_SAMPLER).empty())
      return Factory<Sampler>::get();
    if (std::strcmp(id, DIFSS_FACTORY_SEGMENTER) == 0 && !of_kind(DIFSS_KIND_SEGMENTER).empty())
      return Factory<Segmenter>::get();
    return nullptr;
  }
  static const void* DIFSS_ABI_CALL get_extension(const char*) noexcept { return nullptr; }
};

}  // namespace detail
}  // namespace difss::sdk

// Defines the library's one exported symbol. Use once per plugin library, in one .cpp file.
#define DIFSS_PLUGIN_LIBRARY(library_name, ...)                                  \
  const difss_plugin_entry_t difss_plugin_entry = {                              \
      sizeof(difss_plugin_entry_t),                                              \
      DIFSS_ABI_VERSION_MAJOR,                                                   \
      DIFSS_ABI_VERSION_MINOR,                                                   \
      0,                                                                         \
      library_name,                                                              \
      &::difss::sdk::detail::kFingerprint,                                       \
      &::difss::sdk::detail::Library<__VA_ARGS__>::init,                         \
      &::difss::sdk::detail::Library<__VA_ARGS__>::deinit,                       \
      &::difss::sdk::detail::Library<__VA_ARGS__>::get_factory,                  \
      &::difss::sdk::detail::Library<__VA_ARGS__>::get_extension};
