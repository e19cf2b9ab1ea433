#include "difss/core/run.hpp"

#include "difss/core/errors.hpp"

namespace difss {

RunSummary run(const Pipeline& p) {
  throw ConfigError(p.file.string() + ": the run orchestrator is not built yet");
}

}  // namespace difss
