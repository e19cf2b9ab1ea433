// Logging for the host and, through the host's log callback, for plugins. One spdlog logger,
// "difss", with a console sink on stderr; runs add a file sink in their run directory.
#pragma once

#include <spdlog/spdlog.h>

#include <filesystem>
#include <string>

namespace difss {

// Sets up the "difss" logger (idempotent). level: trace|debug|info|warn|error|off.
void init_logging(const std::string& level = "info");
std::shared_ptr<spdlog::logger> logger();
// Adds a file sink (plain text) to the logger, e.g. <run>/run.log.
void add_log_file(const std::filesystem::path& file);
// A tag printed on every line after the time (e.g. "rank 2/3" in an MPI job); "" for none.
void set_log_tag(const std::string& tag);

}  // namespace difss
