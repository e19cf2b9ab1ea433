#include "tiny_fss_segmenter.hpp"

DIFSS_PLUGIN_LIBRARY("difss-segmenter-tiny-fss", difss::plugins::TinyFssSegmenter)
