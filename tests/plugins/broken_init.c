/* init() fails and says why through the host's log: the host rejects the library with that reason
 * (and never calls its deinit). */
#include "raw_entry.h"

static int DIFSS_ABI_CALL failing_init(const difss_host* host) {
  if (host && host->log)
    host->log(host, DIFSS_LOG_ERROR, NULL,
              "model folder /nonexistent/difss-models is missing (simulated init failure)");
  return 0;
}

DIFSS_TEST_RAW_ENTRY(DIFSS_ABI_VERSION_MAJOR, 0, "broken-init", failing_init, &raw_plain_c_fingerprint)
