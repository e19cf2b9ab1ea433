#include "tiny_controlnet.hpp"

DIFSS_PLUGIN_LIBRARY("difss-sampler-tiny-controlnet", difss::plugins::TinyControlNetSampler)
