#include "difss/core/log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace difss {

namespace {
std::once_flag g_once;
std::shared_ptr<spdlog::logger> g_logger;
std::string g_tag;  // "" or "[rank 2/3] "

std::string console_pattern() { return "%^[%H:%M:%S %L]%$ " + g_tag + "%v"; }
std::string file_pattern() { return "[%Y-%m-%d %H:%M:%S.%e %l] " + g_tag + "%v"; }
}  // namespace

void init_logging(const std::string& level) {
  std::call_once(g_once, [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    g_logger = std::make_shared<spdlog::logger>("difss", sink);
    g_logger->set_pattern(console_pattern());
    g_logger->flush_on(spdlog::level::warn);
    spdlog::register_logger(g_logger);
    spdlog::set_default_logger(g_logger);
  });
  g_logger->set_level(spdlog::level::from_str(level));
}

std::shared_ptr<spdlog::logger> logger() {
  if (!g_logger) init_logging("info");
  return g_logger;
}

void add_log_file(const std::filesystem::path& file) {
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string(), false);
  sink->set_pattern(file_pattern());
  sink->set_level(spdlog::level::debug);
  logger()->sinks().push_back(sink);
}

void set_log_tag(const std::string& tag) {
  g_tag = tag.empty() ? "" : "[" + tag + "] ";
  auto& sinks = logger()->sinks();
  for (size_t i = 0; i < sinks.size(); ++i) sinks[i]->set_pattern(i == 0 ? console_pattern() : file_pattern());
}

}  // namespace difss
