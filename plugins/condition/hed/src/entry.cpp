#include "hed_conditions.hpp"

DIFSS_PLUGIN_LIBRARY("difss-condition-hed", difss::plugins::HedCondition, difss::plugins::ScribbleCondition)
