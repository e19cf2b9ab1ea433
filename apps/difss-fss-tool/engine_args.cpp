#include "engine_args.hpp"

#include <difss/fss/pspnet_engines.hpp>

#include <set>
#include <stdexcept>

namespace difss::fss {

std::pair<std::string, std::string> split_key_value(const std::string& t) {
  const auto eq = t.find('=');
  if (eq == std::string::npos || eq == 0) throw std::invalid_argument("expected key=value, got '" + t + "'");
  return {t.substr(0, eq), t.substr(eq + 1)};
}

PrototypeOptions::Matching parse_matching(const std::string& s) {
  if (s == "prototype") return PrototypeOptions::Matching::prototype;
  if (s == "nearest") return PrototypeOptions::Matching::nearest;
  if (s == "hybrid") return PrototypeOptions::Matching::hybrid;
  throw std::invalid_argument("matching must be prototype or nearest, got '" + s + "'");
}
PrototypeOptions::Fusion parse_fusion(const std::string& s) {
  if (s == "mean") return PrototypeOptions::Fusion::mean;
  if (s == "max") return PrototypeOptions::Fusion::max;
  throw std::invalid_argument("fusion must be mean or max, got '" + s + "'");
}
PrototypeOptions::Rule parse_rule(const std::string& s) {
  if (s == "fg-vs-bg") return PrototypeOptions::Rule::fg_vs_bg;
  if (s == "otsu") return PrototypeOptions::Rule::otsu;
  if (s == "threshold") return PrototypeOptions::Rule::threshold;
  throw std::invalid_argument("rule must be fg-vs-bg, otsu or threshold, got '" + s + "'");
}

namespace {
bool to_bool(const std::string& k, const std::string& v) {
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  throw std::invalid_argument(k + " must be true or false, got '" + v + "'");
}
int64_t to_int(const std::string& k, const std::string& v) {
  try {
    size_t n = 0;
    int64_t x = std::stoll(v, &n);
    if (n == v.size()) return x;
  } catch (...) {
  }
  throw std::invalid_argument(k + " must be an integer, got '" + v + "'");
}
double to_double(const std::string& k, const std::string& v) {
  try {
    size_t n = 0;
    double x = std::stod(v, &n);
    if (n == v.size()) return x;
  } catch (...) {
  }
  throw std::invalid_argument(k + " must be a number, got '" + v + "'");
}
void check_keys(const std::map<std::string, std::string>& kv, const std::set<std::string>& known, const std::string& kind) {
  for (const auto& [k, v] : kv)
    if (!known.count(k)) {
      std::string msg = kind + ": unknown setting '" + k + "'; known:";
      for (const auto& n : known) msg += " " + n;
      throw std::invalid_argument(msg);
    }
}
}  // namespace

std::unique_ptr<SegmenterEngine> engine_from_args(const std::string& kind, const std::map<std::string, std::string>& kv) {
  auto get = [&](const std::string& k, const std::string& def) {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  };
  if (kind == "hsnet") {
    check_keys(kv, {"backbone", "checkpoint", "backbone_weights", "image_size", "test_weights"}, kind);
    HSNetConfig c;
    c.backbone = get("backbone", c.backbone);
    c.checkpoint = get("checkpoint", "");
    c.backbone_weights = get("backbone_weights", "");
    c.image_size = to_int("image_size", get("image_size", "400"));
    c.test_weights = to_bool("test_weights", get("test_weights", "false"));
    return make_hsnet_engine(c);
  }
  if (kind == "prototype") {
    check_keys(kv, {"backbone", "model", "layers", "image_size", "matching", "fusion", "rule", "threshold", "temperature", "test_weights", "refine"}, kind);
    PrototypeConfig c;
    c.backbone = get("backbone", c.backbone);
    c.model = get("model", "");
    c.layers = split_list(get("layers", ""));
    if (c.layers.empty()) {  // the plugin's defaults
      if (c.backbone == "onnx") c.layers = split_list(kDefaultMobileNetV2Layers);
      else if (c.backbone == "vgg16") c.layers = {"features.22", "features.29"};
      else c.layers = {"layer2", "layer3"};
    }
    c.image_size = to_int("image_size", get("image_size", std::to_string(kDefaultPrototypeSize)));
    c.test_weights = to_bool("test_weights", get("test_weights", "false"));
    c.options.matching = parse_matching(get("matching", "prototype"));
    c.options.fusion = parse_fusion(get("fusion", "mean"));
    c.options.rule = parse_rule(get("rule", "fg-vs-bg"));
    c.options.threshold = to_double("threshold", get("threshold", "0.5"));
    c.options.temperature = to_double("temperature", get("temperature", "20"));
    c.options.refine = int(to_int("refine", get("refine", "0")));
    return make_prototype_engine(c);
  }
  if (kind == "bam" || kind == "hdmnet") {
    check_keys(kv, {"checkpoint", "image_size", "shots", "classes", "kshot_trans_dim", "test_weights"}, kind);
    BAMConfig c;
    c.checkpoint = get("checkpoint", "");
    c.image_size = to_int("image_size", get("image_size", "473"));
    c.shots = to_int("shots", get("shots", "1"));
    c.classes = to_int("classes", get("classes", "16"));
    c.kshot_trans_dim = to_int("kshot_trans_dim", get("kshot_trans_dim", "2"));
    c.test_weights = to_bool("test_weights", get("test_weights", "false"));
    if (kind == "bam") return make_bam_engine(c);
    return make_hdmnet_engine(c);
  }
  throw std::invalid_argument("unknown segmenter '" + kind + "' (expected hsnet, prototype, bam or hdmnet)");
}

}  // namespace difss::fss
