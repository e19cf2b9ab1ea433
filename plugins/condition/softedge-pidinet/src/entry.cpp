#include "softedge_pidinet.hpp"

DIFSS_PLUGIN_LIBRARY("difss-condition-softedge-pidinet", difss::plugins::SoftEdgePidiNetCondition)
