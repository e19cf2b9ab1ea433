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

int run_pipeline(const DiscoveryOptions& discovery, const std::string& file, int threads_override) {
  Pipeline p = parse_pipeline(file);  // ConfigError -> exit 2, before anything heavy
  if (p.log_level != "info") logger()->set_level(spdlog::level::from_str(p.log_level));
  Registry reg;
  reg.discover(discovery);
  resolve_plugins(p, reg);
  if (threads_override > 0) p.threads = threads_override;
  configure_threads(p.threads);
  install_interrupt_handler();
  RunSummary s = run(p);
  return s.ok ? kExitOk : kExitFailure;
}

}  // namespace difss::cli
