// A shared library without the difss_plugin_entry symbol.
extern "C" __attribute__((visibility("default"))) int some_other_symbol() { return 7; }
