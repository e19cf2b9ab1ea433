#include "controlnet_sampler.hpp"

DIFSS_PLUGIN_LIBRARY("difss-sampler-controlnet-sd15", difss::plugins::ControlNetSd15Sampler)
