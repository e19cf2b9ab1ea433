#include "hdmnet_segmenter.hpp"

DIFSS_PLUGIN_LIBRARY("difss-segmenter-hdmnet", difss::plugins::HDMNetSegmenter)
