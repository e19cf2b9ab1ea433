#include "basic.hpp"

DIFSS_PLUGIN_LIBRARY("difss-test-basic", difss::test::MaskCondition, difss::test::NoiseSampler,
                     difss::test::ColorSegmenter)
