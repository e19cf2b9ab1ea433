#include "cyctr_segmenter.hpp"

DIFSS_PLUGIN_LIBRARY("difss-segmenter-cyctr", difss::plugins::CyCTRSegmenter)
