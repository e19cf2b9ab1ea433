#include "dcama_segmenter.hpp"

DIFSS_PLUGIN_LIBRARY("difss-segmenter-dcama", difss::plugins::DCAMASegmenter)
