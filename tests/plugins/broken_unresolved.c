/* Calls a function no library defines: dlopen with RTLD_NOW fails with "undefined symbol". */
#include "raw_entry.h"

int difss_test_function_that_does_not_exist(int);

static int DIFSS_ABI_CALL init_calling_nothing(const difss_host* host) {
  (void)host;
  return difss_test_function_that_does_not_exist(1);
}

DIFSS_TEST_RAW_ENTRY(DIFSS_ABI_VERSION_MAJOR, 0, "broken-unresolved", init_calling_nothing,
                     &raw_plain_c_fingerprint)
