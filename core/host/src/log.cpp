#include "difss/core/log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace difss {

namespace {
std::once_flag g_once;
std::shared_ptr<spdlog::logger> g_logger;
}  // namespace

void init_logging(const std::string& level) {
  std::call_once(g_once, [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    g_logger = std::make_shared<spdlog::logger>("difss", sink);
    g_logger->set_pattern("%^[%H:%M:%S %L]%$ %v");
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
  sink->set_pattern("[%Y-%m-%d %H:%M:%S.%e %l] %v");
  sink->set_level(spdlog::level::debug);
  logger()->sinks().push_back(sink);
}

}  // namespace difss
