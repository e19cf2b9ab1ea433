#include "torchscript_segmenter.hpp"

DIFSS_PLUGIN_LIBRARY("difss-segmenter-torchscript", difss::plugins::TorchScriptSegmenter)
