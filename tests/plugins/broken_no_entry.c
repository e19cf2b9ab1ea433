/* A shared library without the difss_plugin_entry symbol. */
#include <difss/abi/difss_entry.h>

DIFSS_EXPORT int some_other_symbol(void) { return 7; }
