// Test helpers of the condition plugins: committed test data, image reading, comparisons.
#pragma once

#include <filesystem>
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <difss/sdk/plugin.hpp>
#include <difss/sdk/tensor_opencv.hpp>

#include <memory>
#include <utility>
#include <vector>

#include "shared_data.hpp"

namespace difss::test {

// plugins/condition/<plugin>/tests/data/<file>; plugin "common": the condition library's own,
// core/models/condition/tests/data/<file>.
inline std::filesystem::path condition_data(const std::string& plugin, const std::string& file) {
  // The shared fixtures live with the shared library (core/models/condition), the others with
  // their plugin.
  if (plugin == "common") return source_dir() / "core" / "models" / "condition" / "tests" / "data" / file;
  return source_dir() / "plugins" / "condition" / plugin / "tests" / "data" / file;
}

// An image file as RGB (3 channels) or unchanged (flags = cv::IMREAD_UNCHANGED); throws when unreadable.
inline cv::Mat read_image(const std::filesystem::path& p, int flags = cv::IMREAD_COLOR) {
  cv::Mat m = cv::imread(p.string(), flags);
  if (m.empty()) throw std::runtime_error("cannot read test image " + p.string());
  if (flags == cv::IMREAD_COLOR) cv::cvtColor(m, m, cv::COLOR_BGR2RGB);
  return m;
}

// Number of pixels/elements where a and b differ (same size and type required).
inline int count_diff(const cv::Mat& a, const cv::Mat& b) {
  if (a.size() != b.size() || a.type() != b.type()) return -1;
  cv::Mat d;
  cv::compare(a.reshape(1), b.reshape(1), d, cv::CMP_NE);
  return cv::countNonZero(d);
}

inline double max_abs_diff(const cv::Mat& a, const cv::Mat& b) { return cv::norm(a, b, cv::NORM_INF); }

// A plugin object built as the host would: parameters checked against the descriptor, defaults
// filled. `params` holds the overrides (e.g. {"resolution", int_value(64)}).
inline difss_value int_value(int64_t v) { difss_value x{}; x.type = DIFSS_PARAM_INT; x.i = v; return x; }
inline difss_value bool_value(bool v) { difss_value x{}; x.type = DIFSS_PARAM_BOOL; x.b = v; return x; }
inline difss_value real_value(double v) { difss_value x{}; x.type = DIFSS_PARAM_FLOAT; x.f = v; return x; }
// `s` must outlive the call (the plugin copies what it keeps).
inline difss_value string_value(const char* s, difss_param_type t = DIFSS_PARAM_STRING) {
  difss_value x{}; x.type = t; x.s = s; return x;
}

template <class T>
std::unique_ptr<T> make_plugin(const std::vector<std::pair<std::string, difss_value>>& params = {}) {
  const auto* d = sdk::detail::descriptor_of<T>();
  std::vector<difss_param> raw;
  for (const auto& kv : params) raw.push_back({sizeof(difss_param), kv.first.c_str(), kv.second});
  sdk::Params p(d->src.id, raw.data(), uint32_t(raw.size()));
  p.check_against(d->desc);
  return std::make_unique<T>(sdk::Host(nullptr, d->src.id), p);
}

// A borrowed DLTensor over a continuous uint8 cv::Mat ([H, W] or [H, W, C]).
struct DlView {
  std::vector<int64_t> shape;
  DLTensor t{};
  explicit DlView(const cv::Mat& m) {
    if (!m.isContinuous() || m.depth() != CV_8U) throw std::runtime_error("DlView: continuous uint8 only");
    shape = {m.rows, m.cols};
    if (m.channels() > 1) shape.push_back(m.channels());
    t.data = m.data;
    t.device = {kDLCPU, 0};
    t.ndim = int32_t(shape.size());
    t.dtype = sdk::kU8;
    t.shape = shape.data();
  }
  DlView(const DlView&) = delete;
};

// Runs a condition plugin on an RGB image and a mask; returns the control map as a cv::Mat copy.
inline cv::Mat run_condition(sdk::Condition& c, const cv::Mat& rgb, const cv::Mat& mask, int class_id = 1,
                             const std::string& class_name = "", const std::string& class_set = "") {
  DlView image(rgb), m(mask);
  sdk::ConditionInput in{image.t, m.t, class_id, class_name, class_set};
  sdk::Call call(nullptr);
  sdk::OwnedTensor out = c.generate(in, call);
  return sdk::as_mat(out.dl()).clone();
}

}  // namespace difss::test
