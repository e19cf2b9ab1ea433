#include "difss/core/registry.hpp"

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>

#include "difss/core/host_services.hpp"
#include "difss/core/log.hpp"
#include "difss/core/suggest.hpp"

#ifndef DIFSS_TORCH_VERSION
#define DIFSS_TORCH_VERSION ""
#endif
#ifndef DIFSS_INSTALL_PLUGIN_DIR
#define DIFSS_INSTALL_PLUGIN_DIR "/usr/local/lib/difss/plugins"
#endif
#ifndef DIFSS_PLUGIN_REL_DIR
#define DIFSS_PLUGIN_REL_DIR "lib/difss/plugins"
#endif

namespace fs = std::filesystem;

namespace difss {

const char* kind_name(difss_kind kind) {
  switch (kind) {
    case DIFSS_KIND_CONDITION: return "condition";
    case DIFSS_KIND_SAMPLER: return "sampler";
    case DIFSS_KIND_SEGMENTER: return "segmenter";
  }
  return "unknown";
}

const char* factory_id(difss_kind kind) {
  switch (kind) {
    case DIFSS_KIND_CONDITION: return DIFSS_FACTORY_CONDITION;
    case DIFSS_KIND_SAMPLER: return DIFSS_FACTORY_SAMPLER;
    case DIFSS_KIND_SEGMENTER: return DIFSS_FACTORY_SEGMENTER;
  }
  return "";
}

namespace {

std::vector<fs::path> split_path_list(const char* s) {
  std::vector<fs::path> out;
  if (!s) return out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ':'))
    if (!item.empty()) out.emplace_back(item);
  return out;
}

bool is_library_file(const fs::path& p) {
  auto name = p.filename().string();
  return p.extension() == ".so" || name.find(".so.") != std::string::npos;
}

// "1.13.1" -> "1.13"
std::string major_minor(const std::string& v) {
  auto a = v.find('.');
  if (a == std::string::npos) return v;
  auto b = v.find('.', a + 1);
  return b == std::string::npos ? v : v.substr(0, b);
}

bool valid_semver(const char* v) {
  static const std::regex re(R"(^\d+\.\d+\.\d+([-+][0-9A-Za-z.\-+]*)?$)");
  return v && std::regex_match(v, re);
}

bool valid_id(const char* id) {
  static const std::regex re(R"(^[a-z0-9][a-z0-9_\-]*(\.[a-z0-9][a-z0-9_\-]*)+$)");
  return id && std::regex_match(id, re);
}

// Checks what the library was built with; returns an empty string when it can share this process.
std::string check_fingerprint(const difss_build_fingerprint* f) {
  if (!f) return "the entry has no build fingerprint";
  if (f->struct_size < offsetof(difss_build_fingerprint, sdk_version) + sizeof(f->sdk_version))
    return "build fingerprint struct_size " + std::to_string(f->struct_size) + " is too small";
#if defined(_GLIBCXX_USE_CXX11_ABI)
  if (f->cxx11_abi != -1 && f->cxx11_abi != _GLIBCXX_USE_CXX11_ABI)
    return "built with _GLIBCXX_USE_CXX11_ABI=" + std::to_string(f->cxx11_abi) +
           " but the host uses " + std::to_string(_GLIBCXX_USE_CXX11_ABI) +
           " (std::string layouts differ; rebuild the plugin)";
#endif
  std::string tv = f->torch_version ? f->torch_version : "";
  std::string host_tv = DIFSS_TORCH_VERSION;
  if (!tv.empty() && !host_tv.empty() && major_minor(tv) != major_minor(host_tv))
    return "built against LibTorch " + tv + " but the host process uses LibTorch " + host_tv +
           " (two LibTorch versions cannot share a process; rebuild the plugin)";
  return "";
}

// Reads plugin `index` of a factory into a host-owned Descriptor (growth rule (b) of difss.h:
// zero-filled structs of the host's size; the plugin fills what it knows). Returns a reason
// when the description is unusable.
std::string read_descriptor(const difss_factory_base* f, uint32_t index, difss_kind expected,
                            Descriptor& d) {
  difss_plugin_info info{};
  info.struct_size = sizeof(info);
  if (!f->get_info(f, index, &info)) return "get_info failed";
  if (!DIFSS_HAS_FIELD(&info, difss_plugin_info, port_count))
    return "plugin info struct_size " + std::to_string(info.struct_size) + " is too small";
  if (!valid_id(info.id))
    return std::string("invalid plugin id '") + (info.id ? info.id : "") +
           "' (expected reverse-DNS like org.example.segmenter.name)";
  d.id = info.id;
  if (info.kind != expected) return "its kind does not match its factory";
  if (!valid_semver(info.version))
    return std::string("version '") + (info.version ? info.version : "") + "' is not semver (X.Y.Z)";
  if (!info.name || !*info.name) return "it has no name";
  d.name = info.name;
  d.description = info.description ? info.description : "";
  d.version = info.version;
  d.kind = info.kind;
  for (uint32_t k = 0; k < info.param_count; ++k) {
    difss_param_info p{};
    p.struct_size = sizeof(p);
    if (!f->get_param(f, index, k, &p) || !DIFSS_HAS_FIELD(&p, difss_param_info, doc))
      return "parameter " + std::to_string(k) + " cannot be read";
    if (!p.name || !*p.name) return "parameter " + std::to_string(k) + " has no name";
    if (p.type < DIFSS_PARAM_BOOL || p.type > DIFSS_PARAM_ENUM)
      return std::string("parameter '") + p.name + "' has an unknown type";
    if (p.type == DIFSS_PARAM_ENUM && p.enum_count == 0)
      return std::string("enum parameter '") + p.name + "' has no values";
    if (!p.doc) p.doc = "";
    if (!p.default_value.s) p.default_value.s = "";
    d.param_store.push_back(p);
  }
  for (uint32_t k = 0; k < info.port_count; ++k) {
    difss_port_info p{};
    p.struct_size = sizeof(p);
    if (!f->get_port(f, index, k, &p) || !DIFSS_HAS_FIELD(&p, difss_port_info, doc))
      return "port " + std::to_string(k) + " cannot be read";
    if (!p.name || !p.format) return "port " + std::to_string(k) + " has no name or format";
    if (!p.doc) p.doc = "";
    d.port_store.push_back(p);
  }
  d.params = d.param_store.data();
  d.param_count = uint32_t(d.param_store.size());
  d.ports = d.port_store.data();
  d.port_count = uint32_t(d.port_store.size());
  return "";
}

// Every library this process has opened and initialised (a second Registry reuses them: init is
// called once per library until shutdown_plugins()).
struct LoadedLibrary {
  std::string path;
  const difss_plugin_entry_t* entry = nullptr;
  const difss_host* host = nullptr;
  bool initialized = false;
};
std::mutex g_libraries_mutex;
std::vector<LoadedLibrary>& loaded_libraries() {
  static auto* v = new std::vector<LoadedLibrary>;  // immortal (used at exit)
  return *v;
}

}  // namespace

std::vector<fs::path> plugin_search_path(const DiscoveryOptions& opts) {
  std::vector<fs::path> dirs = opts.plugin_paths;
  if (opts.use_environment) {
    auto env = split_path_list(std::getenv("DIFSS_PLUGIN_PATH"));
    dirs.insert(dirs.end(), env.begin(), env.end());
  }
  if (opts.use_default_dirs) {
    boost::system::error_code ec;
    auto exe = boost::dll::program_location(ec);
    if (!ec) dirs.push_back(fs::path(exe.parent_path().string()) / ".." / DIFSS_PLUGIN_REL_DIR);
    dirs.emplace_back(DIFSS_INSTALL_PLUGIN_DIR);
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg)
      dirs.push_back(fs::path(xdg) / "difss" / "plugins");
    else if (const char* home = std::getenv("HOME"); home && *home)
      dirs.push_back(fs::path(home) / ".local" / "share" / "difss" / "plugins");
    dirs.emplace_back("/usr/local/lib/difss/plugins");
    dirs.emplace_back("/usr/lib/difss/plugins");
  }
  // Same directory twice (through .. or symlinks) is searched once.
  std::vector<fs::path> out;
  std::set<std::string> seen;
  for (auto& d : dirs) {
    std::error_code ec;
    auto canon = fs::weakly_canonical(d, ec);
    auto key = (ec ? d : canon).string();
    if (seen.insert(key).second) out.push_back(ec ? d : canon);
  }
  return out;
}

void Registry::discover(const DiscoveryOptions& opts) {
  search_path_ = plugin_search_path(opts);
  for (const auto& dir : search_path_) {
    std::error_code ec;
    if (fs::is_regular_file(dir, ec)) {  // a file given directly
      load_library(dir);
      continue;
    }
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file() && is_library_file(e.path())) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) load_library(f);
  }
}

const LibraryRecord& Registry::load_library(const fs::path& file) {
  LibraryRecord rec;
  rec.path = file;
  auto reject = [&](std::string why) -> const LibraryRecord& {
    rec.reason = std::move(why);
    logger()->debug("plugin candidate {} rejected: {}", file.string(), rec.reason);
    libraries_.push_back(std::move(rec));
    return libraries_.back();
  };
  for (const auto& l : libraries_) {
    std::error_code ec;
    if (fs::equivalent(l.path, file, ec)) return reject("already loaded from " + l.path.string());
  }

  // Never unloaded: the shared_library object is leaked on purpose.
  auto* lib = new boost::dll::shared_library;
  try {
    lib->load(file.string(),
              boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    delete lib;  // nothing was loaded
    std::string msg = e.what();
    // Boost phrases it "boost::dll::shared_library::load() failed (dlerror system message: X)".
    auto p = msg.find("dlerror system message: ");
    if (p != std::string::npos) msg = msg.substr(p + 24, msg.size() - p - 24 - (msg.back() == ')'));
    return reject("cannot be loaded: " + msg);
  }
  if (!lib->has(DIFSS_ENTRY_SYMBOL))
    return reject("not a difss plugin: no exported symbol '" DIFSS_ENTRY_SYMBOL "'");
  const auto& entry = lib->get<const difss_plugin_entry_t>(DIFSS_ENTRY_SYMBOL);
  // The first three fields are the same in every ABI major, so a plugin of another major is
  // recognised and refused with a clear reason.
  if (entry.struct_size < offsetof(difss_plugin_entry_t, abi_minor))
    return reject("entry struct_size " + std::to_string(entry.struct_size) + " is too small");
  rec.abi_major = entry.abi_major;
  if (entry.abi_major != DIFSS_ABI_VERSION_MAJOR)
    return reject("ABI major version " + std::to_string(entry.abi_major) +
                  " does not match the host's " + std::to_string(DIFSS_ABI_VERSION_MAJOR) +
                  " (rebuild the plugin against this SDK)");
  if (entry.struct_size < offsetof(difss_plugin_entry_t, get_extension) + sizeof(entry.get_extension))
    return reject("entry struct_size " + std::to_string(entry.struct_size) + " is too small");
  rec.abi_minor = entry.abi_minor;
  rec.library_name = entry.library_name ? entry.library_name : "";
  const std::string host_abi =
      std::to_string(DIFSS_ABI_VERSION_MAJOR) + "." + std::to_string(DIFSS_ABI_VERSION_MINOR);
  if (entry.required_abi_minor > DIFSS_ABI_VERSION_MINOR)
    return reject("requires ABI " + std::to_string(DIFSS_ABI_VERSION_MAJOR) + "." +
                  std::to_string(entry.required_abi_minor) + " but the host provides " + host_abi +
                  " (update difss)");
  if (!entry.init || !entry.get_factory) return reject("entry lacks init or get_factory");
  if (std::string why = check_fingerprint(entry.fingerprint); !why.empty()) return reject(why);

  const difss_host* host = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_libraries_mutex);
    auto& libs = loaded_libraries();
    auto it = std::find_if(libs.begin(), libs.end(),
                           [&](const LoadedLibrary& l) { return l.entry == &entry; });
    if (it != libs.end() && it->initialized) {
      host = it->host;
    } else {
      host = make_host_services(file);
      InitMessageCapture capture;
      if (!entry.init(host)) {
        std::string why = "init() failed";
        if (!capture.messages().empty()) why += ": " + capture.messages().back();
        return reject(why);
      }
      if (it != libs.end()) {
        it->host = host;
        it->initialized = true;
      } else {
        libs.push_back({file.string(), &entry, host, true});
      }
    }
  }

  for (difss_kind kind : {DIFSS_KIND_CONDITION, DIFSS_KIND_SAMPLER, DIFSS_KIND_SEGMENTER}) {
    const auto* f = static_cast<const difss_factory_base*>(entry.get_factory(factory_id(kind)));
    if (!f) continue;
    // Every kind's factory is the base followed by create().
    const size_t need = sizeof(difss_factory_base) + sizeof(void*);
    if (f->struct_size < need || !f->count || !f->get_info || !f->get_param || !f->get_port) {
      rec.warnings.push_back(std::string("factory ") + factory_id(kind) + " is malformed; skipped");
      continue;
    }
    uint32_t n = f->count(f);
    for (uint32_t i = 0; i < n; ++i) {
      auto d = std::make_unique<Descriptor>();
      d->fingerprint = entry.fingerprint;
      std::string why = read_descriptor(f, i, kind, *d);
      std::string id = *d->id ? d->id : "#" + std::to_string(i);
      if (why.empty() && plugins_.count(id))
        why = "id already provided by " + plugins_.at(id).library.string();
      if (!why.empty()) {
        rec.warnings.push_back(id + ": " + why);
        continue;
      }
      plugins_[id] = PluginInfo{id, d.get(), f, host, file};
      descriptors_.push_back(std::move(d));
      rec.plugin_ids.push_back(id);
    }
  }
  if (rec.plugin_ids.empty()) {
    std::string why = "provides no usable plugin";
    for (const auto& w : rec.warnings) why += "; " + w;
    rec.warnings.clear();
    return reject(why);
  }
  rec.accepted = true;
  libraries_.push_back(std::move(rec));
  return libraries_.back();
}

void shutdown_plugins() {
  std::lock_guard<std::mutex> lock(g_libraries_mutex);
  auto& libs = loaded_libraries();
  for (auto it = libs.rbegin(); it != libs.rend(); ++it) {
    if (!it->initialized) continue;
    it->initialized = false;
    if (it->entry->deinit) it->entry->deinit();
  }
}

const PluginInfo* Registry::find(const std::string& id) const {
  auto it = plugins_.find(id);
  return it == plugins_.end() ? nullptr : &it->second;
}

std::vector<const PluginInfo*> Registry::plugins() const {
  std::vector<const PluginInfo*> out;
  for (const auto& kv : plugins_) out.push_back(&kv.second);
  std::stable_sort(out.begin(), out.end(), [](const PluginInfo* a, const PluginInfo* b) {
    return a->descriptor->kind < b->descriptor->kind;
  });
  return out;
}

std::vector<std::string> Registry::suggest(const std::string& id) const {
  std::vector<std::string> ids;
  for (const auto& kv : plugins_) ids.push_back(kv.first);
  return close_matches(id, ids);
}

}  // namespace difss
