/* Says it was built against another LibTorch: the host refuses it before calling init (two
 * LibTorch versions cannot share a process). */
#include "raw_entry.h"

static const difss_build_fingerprint old_torch = {sizeof(difss_build_fingerprint), "GCC 4.8.5", -1,
                                                  "0.4.1", "2.0.0"};

DIFSS_TEST_RAW_ENTRY(DIFSS_ABI_VERSION_MAJOR, 0, "broken-fingerprint-torch", raw_init_ok, &old_torch)
