#include "seg_palette.hpp"

DIFSS_PLUGIN_LIBRARY("difss-condition-seg-palette", difss::plugins::SegPaletteCondition)
