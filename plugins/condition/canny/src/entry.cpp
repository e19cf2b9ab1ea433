#include "canny.hpp"

DIFSS_PLUGIN_LIBRARY("difss-condition-canny", difss::plugins::CannyCondition)
