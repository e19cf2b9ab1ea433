// The services the host hands to plugins: an immutable difss_host per plugin library (logging
// into the host's spdlog sinks, its folder, the thread count) and a difss_call per call (error
// sink, progress, cancellation, the run folder).
#pragma once

#include <difss/abi/difss.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace difss {

// An immortal, immutable difss_host for the plugin library `library` (never freed: plugin objects
// may keep the pointer for their whole life, and libraries are never unloaded). Its plugin_dir is
// the library's folder; num_threads() reports configure_threads()'s setting.
const difss_host* make_host_services(const std::filesystem::path& library);
// The run folder that calls made from now on report (difss_call::run_dir).
void set_run_dir(const std::filesystem::path& dir);
std::string current_run_dir();

// While alive, warnings and errors that plugins log on this thread are also kept (the registry
// uses it around a library's init() to give the reason of a failed init).
class InitMessageCapture {
 public:
  InitMessageCapture();
  ~InitMessageCapture();
  InitMessageCapture(const InitMessageCapture&) = delete;
  InitMessageCapture& operator=(const InitMessageCapture&) = delete;
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::vector<std::string> messages_;
  std::vector<std::string>* previous_;
};

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
  static void DIFSS_ABI_CALL set_error(difss_call* c, difss_status s, const char* msg);
  static void progress(difss_call* c, const char* what, uint64_t done, uint64_t total);
  static int is_cancelled(difss_call* c);

  std::string run_dir_;
  difss_call call_{};
  difss_status status_ = DIFSS_OK;
  std::string message_;
  ProgressFn progress_;
};

}  // namespace difss
