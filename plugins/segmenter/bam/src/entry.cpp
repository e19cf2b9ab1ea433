#include "bam_segmenter.hpp"

DIFSS_PLUGIN_LIBRARY("difss-segmenter-bam", difss::plugins::BAMSegmenter)
