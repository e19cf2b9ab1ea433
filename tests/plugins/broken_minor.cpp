// Requires a newer ABI minor than any host provides: the host must refuse it.
#include <difss/abi/difss_entry.h>

static int init(const char*) { return 1; }
static void deinit() {}
static const difss_factory* get_factory(const char*) { return nullptr; }
static const void* get_extension(const char*) { return nullptr; }

extern "C" __attribute__((visibility("default"))) const difss_plugin_entry_t difss_plugin_entry = {
    sizeof(difss_plugin_entry_t), DIFSS_ABI_VERSION_MAJOR, 999, "broken-minor", &init, &deinit,
    &get_factory, &get_extension};
