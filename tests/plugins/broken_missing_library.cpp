// Depends on libdifss_test_vanishing.so, which is not on any library path at run time.
#include <difss/abi/difss_entry.h>

extern "C" int difss_vanishing_value();

static int init(const char*) { return difss_vanishing_value() == 3; }
static void deinit() {}
static const difss_factory* get_factory(const char*) { return nullptr; }
static const void* get_extension(const char*) { return nullptr; }

extern "C" __attribute__((visibility("default"))) const difss_plugin_entry_t difss_plugin_entry = {
    sizeof(difss_plugin_entry_t), DIFSS_ABI_VERSION_MAJOR, 0, "broken-missing-library", &init,
    &deinit, &get_factory, &get_extension};
