/* Requires a newer ABI minor than any host provides: the host must refuse it. */
#include "raw_entry.h"

DIFSS_TEST_RAW_ENTRY(DIFSS_ABI_VERSION_MAJOR, 999, "broken-minor", raw_init_ok,
                     &raw_plain_c_fingerprint)
