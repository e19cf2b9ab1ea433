/*
 * The one symbol a difss plugin library exports: `difss_plugin_entry`.
 *
 * A plugin written in plain C needs only this header (and difss.h, dlpack.h):
 *
 *   #include <difss/abi/difss_entry.h>
 *   ... static functions filling the structs of difss.h ...
 *   const difss_plugin_entry_t difss_plugin_entry = {
 *       sizeof(difss_plugin_entry_t), DIFSS_ABI_VERSION_MAJOR, DIFSS_ABI_VERSION_MINOR, 0,
 *       "my-library", &fingerprint, my_init, my_deinit, my_get_factory, my_get_extension};
 *
 * The declaration below marks the symbol DIFSS_EXPORT, so the definition needs no attribute. To
 * export nothing else, build with hidden default visibility (-fvisibility=hidden, which
 * difss_add_plugin() sets, together with a linker version script).
 *
 * Lifecycle (like CLAP's clap_entry):
 *   1. The host dlopen()s the library (RTLD_NOW | RTLD_LOCAL) and reads `difss_plugin_entry`.
 *   2. It checks struct_size, abi_major == host major, required_abi_minor <= host minor, and the
 *      build fingerprint (the library is refused before any of its code runs).
 *   3. It calls init(host) once. A failing init returns 0 (after logging why through
 *      host->log); the library is rejected and deinit is not called.
 *   4. get_factory(DIFSS_FACTORY_*) returns a plugin-owned factory (difss_condition_factory*,
 *      difss_sampler_factory*, difss_segmenter_factory* for the three kind ids) or NULL;
 *      get_extension(id) an optional library-level extension or NULL.
 *   5. deinit() once at host shutdown, after every instance was destroyed. The library is never
 *      unloaded (unloading LibTorch/CUDA is a known crash), but the plugin may free what init made.
 * Threading: init/deinit are called from one thread; get_factory/get_extension are thread-safe
 * after init.
 */
#ifndef DIFSS_ABI_DIFSS_ENTRY_H
#define DIFSS_ABI_DIFSS_ENTRY_H

#include "difss.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the entry symbol for export (the only symbol a plugin library exports). */
#if defined(_WIN32)
#define DIFSS_EXPORT __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define DIFSS_EXPORT __attribute__((visibility("default")))
#else
#define DIFSS_EXPORT
#endif

#define DIFSS_ENTRY_SYMBOL "difss_plugin_entry"

/* What the library was built with. The host refuses a library that cannot share its process
 * (another C++ standard-library ABI, another LibTorch major.minor when both use LibTorch). */
typedef struct difss_build_fingerprint {
  uint32_t struct_size;
  const char* compiler;      /* e.g. "GCC 12.2.0", or "C" for a plain-C plugin */
  int32_t cxx11_abi;         /* _GLIBCXX_USE_CXX11_ABI, or -1 when not libstdc++ / plain C */
  const char* torch_version; /* "1.13.1", or "" when the library does not use LibTorch */
  const char* sdk_version;   /* difss SDK semver it was compiled against, or "" */
} difss_build_fingerprint;

typedef struct difss_plugin_entry_t {
  uint32_t struct_size;
  uint16_t abi_major;          /* DIFSS_ABI_VERSION_MAJOR the library was built with */
  uint16_t abi_minor;          /* DIFSS_ABI_VERSION_MINOR the library was built with */
  uint16_t required_abi_minor; /* lowest host minor the library can live with */
  const char* library_name;    /* e.g. "difss-condition-seg-palette" */
  const difss_build_fingerprint* fingerprint;
  int(DIFSS_ABI_CALL* init)(const difss_host* host);
  void(DIFSS_ABI_CALL* deinit)(void);
  const void*(DIFSS_ABI_CALL* get_factory)(const char* factory_id);
  const void*(DIFSS_ABI_CALL* get_extension)(const char* extension_id);
} difss_plugin_entry_t;

/* The symbol itself (declared here so that a C plugin only has to define it). */
DIFSS_EXPORT extern const difss_plugin_entry_t difss_plugin_entry;

#ifdef __cplusplus
}
#endif

#endif /* DIFSS_ABI_DIFSS_ENTRY_H */
