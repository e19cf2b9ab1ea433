/* Depends on libdifss_test_vanishing.so, which is not on any library path at run time. */
#include "raw_entry.h"

int difss_vanishing_value(void);

static int DIFSS_ABI_CALL init_needing_dependency(const difss_host* host) {
  (void)host;
  return difss_vanishing_value() == 3;
}

DIFSS_TEST_RAW_ENTRY(DIFSS_ABI_VERSION_MAJOR, 0, "broken-missing-library", init_needing_dependency,
                     &raw_plain_c_fingerprint)
