// Calls a function no library defines: dlopen with RTLD_NOW fails with "undefined symbol".
#include <difss/abi/difss_entry.h>

extern "C" int difss_test_function_that_does_not_exist(int);

static int init(const char*) { return difss_test_function_that_does_not_exist(1); }
static void deinit() {}
static const difss_factory* get_factory(const char*) { return nullptr; }
static const void* get_extension(const char*) { return nullptr; }

extern "C" __attribute__((visibility("default"))) const difss_plugin_entry_t difss_plugin_entry = {
    sizeof(difss_plugin_entry_t), DIFSS_ABI_VERSION_MAJOR, 0, "broken-unresolved", &init, &deinit,
    &get_factory, &get_extension};
