/* A dependency that broken-missing-library links but that is not on the loader's path. */
#include <difss/abi/difss_entry.h>

DIFSS_EXPORT int difss_vanishing_value(void) { return 3; }
