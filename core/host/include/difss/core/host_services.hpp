// The services the host hands to plugins: a difss_host per plugin library (logging into the
// host's spdlog sinks, directories, thread count) and a difss_call per call (error sink,
// progress, cancellation).
#pragma once

#include <difss/abi/difss.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace difss {

// An immortal difss_host for plugins living in `plugin_dir` (never freed: plugin objects may
// keep the pointer for their whole life, and libraries are never unloaded).
const difss_host* make_host_services(const std::filesystem::path& plugin_dir);
// The run directory reported to plugins created from now on.
void set_run_dir(const std::filesystem::path& dir);
// The intra-op thread count reported to plugins (the host sets LibTorch's once at start-up).
void set_reported_threads(int n);

// Process-wide cancellation (Ctrl-C). The first SIGINT/SIGTERM requests a stop; a second one
// exits at once.
void install_interrupt_handler();
bool cancel_requested();
void request_cancel();
void reset_cancel();

using ProgressFn = std::function<void(const char* what, uint64_t done, uint64_t total)>;

// A difss_call for one plugin call. After the call, status()/message() hold what the plugin
// reported through set_error.
class CallContext {
 public:
  explicit CallContext(ProgressFn progress = {});
  difss_call* get() { return &call_; }
  difss_status status() const { return status_; }
  const std::string& message() const { return message_; }
  // "message" or "<status name>" when the plugin failed without a message.
  std::string describe(difss_status returned) const;

 private:
  static void set_error(difss_call* c, difss_status s, const char* msg);
  static void progress(difss_call* c, const char* what, uint64_t done, uint64_t total);
  static int is_cancelled(difss_call* c);

  difss_call call_{};
  difss_status status_ = DIFSS_OK;
  std::string message_;
  ProgressFn progress_;
};

}  // namespace difss
