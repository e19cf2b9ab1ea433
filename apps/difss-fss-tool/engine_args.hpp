// Segmenter engines from "key=value" settings (the bench/eval commands' --param flags), using the
// plugins' parameter names.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <difss/fss/engines.hpp>

namespace difss::fss {

// kind: "hsnet", "prototype", "bam" or "hdmnet". Keys (as the plugins' parameters):
//   hsnet:     backbone, checkpoint, backbone_weights, image_size, test_weights
//   prototype: backbone, model, layers, image_size, matching, fusion, rule, threshold,
//              temperature, test_weights
//   bam, hdmnet: checkpoint, image_size, shots, classes, kshot_trans_dim, test_weights
std::unique_ptr<SegmenterEngine> engine_from_args(const std::string& kind,
                                                  const std::map<std::string, std::string>& kv);

// "key=value" -> (key, value); throws std::invalid_argument otherwise.
std::pair<std::string, std::string> split_key_value(const std::string& text);

PrototypeOptions::Matching parse_matching(const std::string& s);
PrototypeOptions::Fusion parse_fusion(const std::string& s);
PrototypeOptions::Rule parse_rule(const std::string& s);

}  // namespace difss::fss
