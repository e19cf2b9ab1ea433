#include "mask_scribble.hpp"

DIFSS_PLUGIN_LIBRARY("difss-condition-mask-scribble", difss::plugins::MaskScribbleCondition)
