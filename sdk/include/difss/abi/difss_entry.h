/*
 * The one symbol a difss plugin library exports: `difss_plugin_entry`.
 *
 * Lifecycle (like CLAP's clap_entry):
 *   1. The host dlopen()s the library (RTLD_NOW | RTLD_LOCAL) and reads `difss_plugin_entry`.
 *   2. It checks struct_size, abi_major == host major, required_abi_minor <= host minor.
 *   3. It calls init(plugin_dir) once. init is ref-counted and idempotent: every successful
 *      init is matched by one deinit. A failing init returns 0 and the library is rejected.
 *   4. get_factory(DIFSS_FACTORY_*) returns a plugin-owned, immortal factory or NULL.
 *   5. get_extension(id) returns an optional extension struct or NULL (none defined in 1.0).
 *   6. deinit() at host shutdown. The library is never unloaded.
 * Threading: init/deinit are called from one thread; get_factory/get_extension are thread-safe
 * after init.
 */
#ifndef DIFSS_ABI_DIFSS_ENTRY_H
#define DIFSS_ABI_DIFSS_ENTRY_H

#include "difss.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DIFSS_ENTRY_SYMBOL "difss_plugin_entry"

typedef struct difss_plugin_entry_t {
  uint32_t struct_size;
  uint16_t abi_major;          /* DIFSS_ABI_VERSION_MAJOR the plugin was built with */
  uint16_t required_abi_minor; /* lowest host minor the plugin can live with */
  const char* library_name;    /* e.g. "difss-condition-seg-palette" */
  int (*init)(const char* plugin_dir);
  void (*deinit)(void);
  const difss_factory* (*get_factory)(const char* factory_id);
  const void* (*get_extension)(const char* extension_id);
} difss_plugin_entry_t;

#ifdef __cplusplus
}
#endif

#endif /* DIFSS_ABI_DIFSS_ENTRY_H */
