// `difss-host --pipeline FILE`: validate everything first (no weights loaded), then set the
// thread count once, then run.
#include <difss/core/errors.hpp>
#include <difss/core/host_services.hpp>
#include <difss/core/log.hpp>
#include <difss/core/pipeline.hpp>
#include <difss/core/run.hpp>
#include <difss/core/threads.hpp>

#include "commands.hpp"

namespace difss::cli {

namespace {
RunOptions parse_shard(const std::string& s) {
  RunOptions o;
  if (s.empty()) return o;
  auto slash = s.find('/');
  try {
    if (slash == std::string::npos) throw std::invalid_argument(s);
    o.shard_index = std::stoi(s.substr(0, slash));
    o.shard_count = std::stoi(s.substr(slash + 1));
  } catch (const std::exception&) {
    throw ConfigError("--shard: expected K/N with 0 <= K < N, got '" + s + "'");
  }
  if (o.shard_count < 1 || o.shard_index < 0 || o.shard_index >= o.shard_count)
    throw ConfigError("--shard: expected K/N with 0 <= K < N, got '" + s + "'");
  return o;
}
}  // namespace

int run_pipeline(const DiscoveryOptions& discovery, const std::string& file, int threads_override,
                 const std::string& shard, bool force_restart, bool resume_anyway) {
  RunOptions options = parse_shard(shard);
  if (force_restart && resume_anyway)
    throw ConfigError("--force-restart and --resume-anyway contradict each other; give one");
  options.force_restart = force_restart;
  options.resume_anyway = resume_anyway;
  Pipeline p = parse_pipeline(file);  // ConfigError -> exit 2, before anything heavy
  if (p.log_level != "info") logger()->set_level(spdlog::level::from_str(p.log_level));
  Registry reg;
  reg.discover(discovery);
  resolve_plugins(p, reg);
  if (threads_override > 0) p.threads = threads_override;
  configure_threads(p.threads);
  install_interrupt_handler();
  RunSummary s = run(p, options);
  return s.ok ? kExitOk : kExitFailure;
}

}  // namespace difss::cli
