/* Built against a future ABI major: the host must refuse it before running any of its code. */
#include "raw_entry.h"

DIFSS_TEST_RAW_ENTRY(99, 0, "broken-abi-major", raw_init_ok, &raw_plain_c_fingerprint)
