// A dependency that broken-missing-library links but that is not on the loader's path.
extern "C" __attribute__((visibility("default"))) int difss_vanishing_value() { return 3; }
