#include "difss/core/host_services.hpp"

#include <csignal>
#include <cstdlib>
#include <mutex>
#include <vector>

#include <difss/sdk/error.hpp>

#include "difss/core/log.hpp"

namespace difss {

namespace {

std::atomic<bool> g_cancel{false};
std::atomic<int> g_signals{0};
std::atomic<int> g_threads{0};
std::mutex g_mutex;
std::string g_run_dir;  // guarded by g_mutex; strings handed out are kept alive below

struct HostBlock {
  difss_host host{};
  std::string plugin_dir;
};
std::vector<HostBlock*> g_hosts;           // immortal
std::vector<std::string*> g_run_dir_copies;  // immortal copies handed to plugins

void host_log(const difss_host*, difss_log_level level, const char* plugin_id, const char* msg) {
  auto lvl = spdlog::level::info;
  switch (level) {
    case DIFSS_LOG_TRACE: lvl = spdlog::level::trace; break;
    case DIFSS_LOG_DEBUG: lvl = spdlog::level::debug; break;
    case DIFSS_LOG_INFO: lvl = spdlog::level::info; break;
    case DIFSS_LOG_WARN: lvl = spdlog::level::warn; break;
    case DIFSS_LOG_ERROR: lvl = spdlog::level::err; break;
  }
  logger()->log(lvl, "[{}] {}", plugin_id ? plugin_id : "?", msg ? msg : "");
}

void on_signal(int) {
  if (g_signals.fetch_add(1) >= 1) std::_Exit(130);  // second Ctrl-C: leave now
  g_cancel = true;
}

}  // namespace

const difss_host* make_host_services(const std::filesystem::path& plugin_dir) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto* b = new HostBlock;
  b->plugin_dir = plugin_dir.string();
  b->host.struct_size = sizeof(difss_host);
  b->host.abi_major = DIFSS_ABI_VERSION_MAJOR;
  b->host.abi_minor = DIFSS_ABI_VERSION_MINOR;
  b->host.host_data = b;
  b->host.log = &host_log;
  b->host.plugin_dir = b->plugin_dir.c_str();
  auto* rd = new std::string(g_run_dir);
  g_run_dir_copies.push_back(rd);
  b->host.run_dir = rd->c_str();
  b->host.num_threads = g_threads.load();
  g_hosts.push_back(b);
  return &b->host;
}

void set_run_dir(const std::filesystem::path& dir) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_run_dir = dir.string();
  for (auto* b : g_hosts) {
    auto* rd = new std::string(g_run_dir);  // old strings stay valid (a plugin may hold one)
    g_run_dir_copies.push_back(rd);
    b->host.run_dir = rd->c_str();
  }
}

void set_reported_threads(int n) {
  g_threads = n;
  std::lock_guard<std::mutex> lock(g_mutex);
  for (auto* b : g_hosts) b->host.num_threads = n;
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

CallContext::CallContext(ProgressFn progress) : progress_(std::move(progress)) {
  call_.struct_size = sizeof(difss_call);
  call_.host_data = this;
  call_.set_error = &CallContext::set_error;
  call_.progress = &CallContext::progress;
  call_.is_cancelled = &CallContext::is_cancelled;
}

void CallContext::set_error(difss_call* c, difss_status s, const char* msg) {
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
