// Plugin discovery, loading and the registry (think gst-inspect's registry).
//
// Every candidate file is either accepted (its plugins become available by id) or rejected
// with a reason a person can act on: not a library, unresolved dependency, no entry symbol,
// ABI major mismatch, minor too new, incompatible build fingerprint, duplicate id, ...
// Libraries are opened with RTLD_NOW | RTLD_LOCAL and never unloaded (unloading LibTorch or
// CUDA is a known crash).
#pragma once

#include <difss/abi/difss_entry.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace difss {

struct PluginInfo {
  std::string id;
  const difss_descriptor* descriptor = nullptr;  // plugin-owned, immortal
  const difss_factory* factory = nullptr;
  const difss_host* host = nullptr;  // services handed to instances of this plugin
  std::filesystem::path library;
};

struct LibraryRecord {
  std::filesystem::path path;
  bool accepted = false;
  std::string reason;                 // why it was rejected (empty when accepted)
  std::string library_name;           // from the entry, when readable
  std::vector<std::string> plugin_ids;
  std::vector<std::string> warnings;  // per-descriptor rejections inside an accepted library
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
};

// The search path the host uses for these options, in order (for messages and `plugins list`).
std::vector<std::filesystem::path> plugin_search_path(const DiscoveryOptions& opts);

const char* kind_name(difss_kind kind);
const char* factory_id(difss_kind kind);

}  // namespace difss
