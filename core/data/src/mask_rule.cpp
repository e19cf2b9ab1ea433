// Mask values -> 0/1/255 masks from reader options; see mask_rule.hpp.
#include "mask_rule.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "dataset_common.hpp"

namespace difss::data::detail {
namespace {

int mask_value(const DatasetConfig& cfg, const std::string& key, const std::string& text) {
  std::size_t used = 0;
  int v = -1;
  try {
    v = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < 0 || v > 255)
    throw std::invalid_argument(cfg.kind + ": option " + key + ": '" + text + "' is not a mask value in 0..255");
  return v;
}

std::map<int, std::string> parse_value_classes(const DatasetConfig& cfg) {
  std::map<int, std::string> out;
  const std::string text = option_str(cfg, "mask_values", "");
  auto add = [&](const std::string& value, std::string name) {
    const auto b = name.find_first_not_of(' '), e = name.find_last_not_of(' ');
    name = b == std::string::npos ? "" : name.substr(b, e - b + 1);
    if (name.empty()) throw std::invalid_argument(cfg.kind + ": option mask_values: value " + value + " has no class name");
    if (!out.emplace(mask_value(cfg, "mask_values", value), name).second)
      throw std::invalid_argument(cfg.kind + ": option mask_values lists value " + value + " twice");
  };
  if (!text.empty() && text.front() == '{') {  // a TOML table arrives as JSON
    const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) throw std::invalid_argument(cfg.kind + ": option mask_values is not a table: " + text);
    for (const auto& [k, v] : j.items()) add(k, v.is_string() ? v.get<std::string>() : v.dump());
  } else {
    for (const auto& item : option_list(cfg, "mask_values", {})) {
      const auto colon = item.find(':');
      if (colon == std::string::npos)
        throw std::invalid_argument(cfg.kind + ": option mask_values: '" + item + "' is not VALUE:CLASS");
      add(item.substr(0, colon), item.substr(colon + 1));
    }
  }
  return out;
}

}  // namespace

MaskRule::MaskRule(const DatasetConfig& cfg) {
  if (has_option(cfg, "mask_threshold")) threshold_ = static_cast<int>(option_int(cfg, "mask_threshold", 128, 1, 255));
  for (const auto& v : option_list(cfg, "ignore_values", {})) {
    ignore_[static_cast<std::size_t>(mask_value(cfg, "ignore_values", v))] = true;
    any_ignore_ = true;
  }
  value_class_ = parse_value_classes(cfg);
  if (threshold_ && !value_class_.empty())
    throw std::invalid_argument(cfg.kind + ": options mask_threshold and mask_values exclude each other");
  for (const auto& [v, name] : value_class_)
    if (ignore_[static_cast<std::size_t>(v)])
      throw std::invalid_argument(cfg.kind + ": value " + std::to_string(v) + " is both in mask_values ('" + name +
                                  "') and in ignore_values");
}

cv::Mat MaskRule::binary(const MaskValues& mv) const {
  if (!threshold_ && !any_ignore_) return binarize_mask(mv);  // the documented default rule
  const cv::Mat& in = mv.values;
  cv::Mat out(in.size(), CV_8UC1);
  const std::uint8_t* s = in.ptr<std::uint8_t>();
  std::uint8_t* d = out.ptr<std::uint8_t>();
  const std::size_t n = in.total();
  // Without a threshold: the default rule (palette index != 0 is foreground, 255 ignore; grey
  // 0/1 masks keep their values, others use >= 128) with the ignore values taken out first.
  int t = threshold_.value_or(128);
  if (!threshold_) {
    std::uint8_t maxv = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (!ignore_[s[i]]) maxv = std::max(maxv, s[i]);
    if (mv.palette || maxv <= 1) t = 1;
  }
  for (std::size_t i = 0; i < n; ++i)
    d[i] = (ignore_[s[i]] || (mv.palette && s[i] == 255)) ? 255 : (s[i] >= t ? 1 : 0);
  return out;
}

cv::Mat MaskRule::of_values(const cv::Mat& values, const std::vector<int>& class_values) const {
  std::array<std::uint8_t, 256> lut{};
  for (int v = 0; v < 256; ++v) lut[static_cast<std::size_t>(v)] = ignore_[static_cast<std::size_t>(v)] ? 255 : 0;
  for (int v : class_values) lut[static_cast<std::size_t>(v)] = 1;
  cv::Mat out(values.size(), CV_8UC1);
  const std::uint8_t* s = values.ptr<std::uint8_t>();
  std::uint8_t* d = out.ptr<std::uint8_t>();
  for (std::size_t i = 0; i < values.total(); ++i) d[i] = lut[s[i]];
  return out;
}

}  // namespace difss::data::detail
