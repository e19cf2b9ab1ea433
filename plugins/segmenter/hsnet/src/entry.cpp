#include "hsnet_segmenter.hpp"

DIFSS_PLUGIN_LIBRARY("difss-segmenter-hsnet", difss::plugins::HSNetSegmenter)
