#include "prototype_segmenter.hpp"

DIFSS_PLUGIN_LIBRARY("difss-segmenter-prototype", difss::plugins::PrototypeSegmenter)
