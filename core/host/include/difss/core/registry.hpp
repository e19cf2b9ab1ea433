// Plugin discovery, loading and the registry (think gst-inspect's registry).
//
// Every candidate file is either accepted (its plugins become available by id) or rejected
// with a reason a person can act on: not a library, unresolved dependency, no entry symbol,
// ABI major mismatch, minor too new, incompatible build fingerprint, failing init (with the
// reason it logged), duplicate id, ...
// Libraries are opened with RTLD_NOW | RTLD_LOCAL and never unloaded (unloading LibTorch or
// CUDA is a known crash).
#pragma once

#include <difss/abi/difss_entry.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace difss {

// What a plugin declared, as the host read it through its factory (difss.h growth rule (b)):
// one caller-owned info struct per plugin, parameter and port. Strings point into the plugin
// library (valid until its deinit, i.e. for the life of the process).
struct Descriptor {
  const char* id = "";
  const char* name = "";
  const char* description = "";
  const char* version = "";
  difss_kind kind = DIFSS_KIND_CONDITION;
  const difss_param_info* params = nullptr;  // param_store.data()
  uint32_t param_count = 0;
  const difss_port_info* ports = nullptr;  // port_store.data()
  uint32_t port_count = 0;
  const difss_build_fingerprint* fingerprint = nullptr;  // the library's
  std::vector<difss_param_info> param_store;
  std::vector<difss_port_info> port_store;
};

struct PluginInfo {
  std::string id;
  const Descriptor* descriptor = nullptr;       // owned by the registry
  const difss_factory_base* factory = nullptr;  // the kind's factory (cast by descriptor->kind)
  const difss_host* host = nullptr;             // services handed to instances of this plugin
  std::filesystem::path library;
};

struct LibraryRecord {
  std::filesystem::path path;
  bool accepted = false;
  std::string reason;                 // why it was rejected (empty when accepted)
  std::string library_name;           // from the entry, when readable
  std::vector<std::string> plugin_ids;
  std::vector<std::string> warnings;  // per-descriptor rejections inside an accepted library
  uint16_t abi_major = 0, abi_minor = 0;  // what the library was built against, when readable
};

struct DiscoveryOptions {
  std::vector<std::filesystem::path> plugin_paths;  // --plugin-path (searched first)
  bool use_environment = true;                      // DIFSS_PLUGIN_PATH (':'-separated)
  bool use_default_dirs = true;                     // <exe>/../lib/difss/plugins, install prefix, XDG dirs
};

class Registry {
 public:
  // Scans the search path in order; the first library to provide an id wins.
  void discover(const DiscoveryOptions& opts);
  // Loads one library file; returns its record (also kept in libraries()).
  const LibraryRecord& load_library(const std::filesystem::path& file);

  const std::vector<LibraryRecord>& libraries() const { return libraries_; }
  const std::vector<std::filesystem::path>& search_path() const { return search_path_; }
  const PluginInfo* find(const std::string& id) const;
  std::vector<const PluginInfo*> plugins() const;  // sorted by kind, then id
  // Close ids for "did you mean" in error messages.
  std::vector<std::string> suggest(const std::string& id) const;

 private:
  std::vector<std::filesystem::path> search_path_;
  std::vector<LibraryRecord> libraries_;
  std::map<std::string, PluginInfo> plugins_;
  std::vector<std::unique_ptr<Descriptor>> descriptors_;
};

// Calls deinit() of every plugin library whose init() succeeded in this process, once, in reverse
// load order. The host calls it at exit, after every instance was destroyed; a library loaded
// again afterwards is initialised again.
void shutdown_plugins();

// The search path the host uses for these options, in order (for messages and `plugins list`).
std::vector<std::filesystem::path> plugin_search_path(const DiscoveryOptions& opts);

const char* kind_name(difss_kind kind);
const char* factory_id(difss_kind kind);

}  // namespace difss
