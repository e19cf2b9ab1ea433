/* Helpers for the hand-written (SDK-free) test plugins: an entry whose factories are all absent,
 * with a chosen ABI version, init function and build fingerprint. Plain C, like a third-party
 * plugin that only has the ABI headers. */
#ifndef DIFSS_TESTS_RAW_ENTRY_H
#define DIFSS_TESTS_RAW_ENTRY_H

#include <difss/abi/difss_entry.h>

static inline int DIFSS_ABI_CALL raw_init_ok(const difss_host* host) {
  (void)host;
  return 1;
}
static inline void DIFSS_ABI_CALL raw_deinit(void) {}
static inline const void* DIFSS_ABI_CALL raw_get_factory(const char* id) {
  (void)id;
  return NULL;
}
static inline const void* DIFSS_ABI_CALL raw_get_extension(const char* id) {
  (void)id;
  return NULL;
}

/* A fingerprint that any host accepts (plain C: no C++ standard library, no LibTorch). */
#if defined(__GNUC__)
__attribute__((unused))
#endif
static const difss_build_fingerprint raw_plain_c_fingerprint = {sizeof(difss_build_fingerprint),
                                                                "C", -1, "", ""};

#define DIFSS_TEST_RAW_ENTRY(major, required_minor, name, init_fn, fingerprint_ptr)            \
  const difss_plugin_entry_t difss_plugin_entry = {                               \
      sizeof(difss_plugin_entry_t), (major), DIFSS_ABI_VERSION_MINOR, (required_minor), (name), \
      (fingerprint_ptr), (init_fn), raw_deinit, raw_get_factory, raw_get_extension};

#endif
