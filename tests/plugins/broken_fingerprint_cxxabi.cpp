// Says it was built with the other libstdc++ string ABI (_GLIBCXX_USE_CXX11_ABI flipped): the host
// refuses it before calling init (std::string layouts differ).
#include <string>  // defines _GLIBCXX_USE_CXX11_ABI

#include "raw_entry.h"

#if defined(_GLIBCXX_USE_CXX11_ABI)
static const difss_build_fingerprint other_abi = {sizeof(difss_build_fingerprint), "GCC 12",
                                                  _GLIBCXX_USE_CXX11_ABI ? 0 : 1, "", "2.0.0"};
#else
#error "this test plugin needs libstdc++"
#endif

DIFSS_TEST_RAW_ENTRY(DIFSS_ABI_VERSION_MAJOR, 0, "broken-fingerprint-cxxabi", raw_init_ok, &other_abi)
