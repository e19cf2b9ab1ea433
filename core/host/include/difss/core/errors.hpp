// Exceptions of the host core. Each message names what failed (file:line:col, plugin id,
// parameter key) and what was expected; difss-host maps them to exit codes.
#pragma once

#include <stdexcept>
#include <string>

namespace difss {

// A pipeline or command line that cannot be run as written (exit code 2).
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A plugin call failed or a plugin broke the contract (exit code 1).
class PluginError : public std::runtime_error {
 public:
  PluginError(const std::string& plugin_id, const std::string& msg)
      : std::runtime_error("plugin " + plugin_id + ": " + msg), plugin_id_(plugin_id) {}
  const std::string& plugin_id() const { return plugin_id_; }

 private:
  std::string plugin_id_;
};

// The plugin declined this item (DIFSS_SKIP): not a failure. The runner counts and logs it and
// goes on; where a caller does not handle it, it is a PluginError like any other.
class PluginSkipped : public PluginError {
 public:
  using PluginError::PluginError;
};

// The user asked to stop (Ctrl-C) (exit code 130).
class Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("cancelled") {}
};

}  // namespace difss
