#include "difss/core/host_services.hpp"

#include <csignal>
#include <cstdlib>
#include <mutex>
#include <vector>

#include <difss/sdk/error.hpp>

#include "difss/core/log.hpp"
#include "difss/core/threads.hpp"

namespace difss {

namespace {

std::atomic<bool> g_cancel{false};
std::atomic<int> g_signals{0};
std::mutex g_mutex;
std::string g_run_dir;  // guarded by g_mutex

// While a library's init() runs on this thread, its warnings and errors are also kept here, so a
// failing init can be rejected with the reason it logged.
thread_local std::vector<std::string>* t_init_messages = nullptr;

struct HostBlock {
  difss_host host{};
  std::string plugin_dir;
  std::string library;  // file name, for messages logged without a plugin id
};

void DIFSS_ABI_CALL host_log(const difss_host* host, difss_log_level level, const char* plugin_id,
                             const char* msg) {
  auto lvl = spdlog::level::info;
  switch (level) {
    case DIFSS_LOG_TRACE: lvl = spdlog::level::trace; break;
    case DIFSS_LOG_DEBUG: lvl = spdlog::level::debug; break;
    case DIFSS_LOG_INFO: lvl = spdlog::level::info; break;
    case DIFSS_LOG_WARN: lvl = spdlog::level::warn; break;
    case DIFSS_LOG_ERROR: lvl = spdlog::level::err; break;
  }
  if (t_init_messages && level >= DIFSS_LOG_WARN) t_init_messages->push_back(msg ? msg : "");
  const char* who = plugin_id;
  if (!who && host && host->host_data) who = static_cast<const HostBlock*>(host->host_data)->library.c_str();
  logger()->log(lvl, "[{}] {}", who && *who ? who : "?", msg ? msg : "");
}

int32_t DIFSS_ABI_CALL host_num_threads(const difss_host*) { return configured_threads(); }

// No host extensions are defined in ABI 2.0.
const void* DIFSS_ABI_CALL host_get_extension(const difss_host*, const char*) { return nullptr; }

void on_signal(int) {
  if (g_signals.fetch_add(1) >= 1) std::_Exit(130);  // second Ctrl-C: leave now
  g_cancel = true;
}

}  // namespace

const difss_host* make_host_services(const std::filesystem::path& library) {
  // Immortal and never changed after this returns (difss.h: the host struct is immutable).
  auto* b = new HostBlock;
  b->plugin_dir = library.parent_path().string();
  b->library = library.filename().string();
  b->host.struct_size = sizeof(difss_host);
  b->host.abi_major = DIFSS_ABI_VERSION_MAJOR;
  b->host.abi_minor = DIFSS_ABI_VERSION_MINOR;
  b->host.host_data = b;
  b->host.log = &host_log;
  b->host.num_threads = &host_num_threads;
  b->host.get_extension = &host_get_extension;
  b->host.plugin_dir = b->plugin_dir.c_str();
  return &b->host;
}

InitMessageCapture::InitMessageCapture() : previous_(t_init_messages) { t_init_messages = &messages_; }
InitMessageCapture::~InitMessageCapture() { t_init_messages = previous_; }

void set_run_dir(const std::filesystem::path& dir) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_run_dir = dir.string();
}

std::string current_run_dir() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_run_dir;
}

void install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}
bool cancel_requested() { return g_cancel.load(); }
void request_cancel() { g_cancel = true; }
void reset_cancel() {
  g_cancel = false;
  g_signals = 0;
}

CallContext::CallContext(ProgressFn progress)
    : run_dir_(current_run_dir()), progress_(std::move(progress)) {
  call_.struct_size = sizeof(difss_call);
  call_.run_dir = run_dir_.c_str();
  call_.host_data = this;
  call_.set_error = &CallContext::set_error;
  call_.progress = &CallContext::progress;
  call_.is_cancelled = &CallContext::is_cancelled;
}

void DIFSS_ABI_CALL CallContext::set_error(difss_call* c, difss_status s, const char* msg) {
  auto* self = static_cast<CallContext*>(c->host_data);
  self->status_ = s;
  self->message_ = msg ? msg : "";
}

void CallContext::progress(difss_call* c, const char* what, uint64_t done, uint64_t total) {
  auto* self = static_cast<CallContext*>(c->host_data);
  if (self->progress_) self->progress_(what ? what : "", done, total);
}

int CallContext::is_cancelled(difss_call*) { return g_cancel.load() ? 1 : 0; }

std::string CallContext::describe(difss_status returned) const {
  std::string s = sdk::status_name(returned);
  if (!message_.empty()) s += ": " + message_;
  return s;
}

}  // namespace difss
