// Host-side handles for plugin instances: create with resolved parameters, call with cv::Mat
// data, destroy exactly once. Each call runs through a CallContext; a failure becomes a
// PluginError naming the plugin id and its message (PluginSkipped when the plugin declined the
// item with DIFSS_SKIP). Outputs are checked against the port formats before the host uses them
// (a plugin is not trusted to honour the contract).
#pragma once

#include <opencv2/core.hpp>

#include <memory>
#include <string>
#include <vector>

#include "difss/core/host_services.hpp"
#include "difss/core/registry.hpp"
#include "difss/core/schema.hpp"

namespace difss {

class Instance {
 public:
  Instance(const PluginInfo& plugin, const ResolvedParams& params);
  virtual ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;
  const std::string& id() const { return plugin_.id; }
  const PluginInfo& plugin() const { return plugin_; }

 protected:
  [[noreturn]] void fail(const char* what, difss_status st, const CallContext& ctx) const;
  const PluginInfo& plugin_;
  const void* obj_ = nullptr;  // the kind's instance struct (difss_condition*, ...)
};

class ConditionInstance : public Instance {
 public:
  using Instance::Instance;
  // image: CV_8UC3 RGB; mask: CV_8UC1 (0/1/255). Returns a CV_8UC3 RGB control map.
  cv::Mat generate(const cv::Mat& image, const cv::Mat& mask, int class_id,
                   const std::string& class_name, const std::string& class_set,
                   ProgressFn progress = {});
};

class SamplerInstance : public Instance {
 public:
  using Instance::Instance;
  struct Request {
    std::string prompt, negative_prompt, class_name;
    int class_id = -1;
    uint64_t seed = 0;
    uint32_t count = 1;
  };
  // control: CV_8UC3 RGB. Returns `count` CV_8UC3 RGB images.
  std::vector<cv::Mat> sample(const cv::Mat& control, const Request& req, ProgressFn progress = {});
};

// Where a segmenter's prediction is wanted (difss_output_size); `size` only for
// DIFSS_OUTPUT_EXPLICIT.
struct SegmentOutputSize {
  difss_output_size kind = DIFSS_OUTPUT_QUERY;
  cv::Size size;
};

class SegmenterInstance : public Instance {
 public:
  using Instance::Instance;
  struct Result {
    cv::Mat prob;  // CV_32FC1, the requested size (the query's by default)
    cv::Mat mask;  // CV_8UC1 0/1, same size
  };
  using OutputSize = SegmentOutputSize;
  Result segment(const cv::Mat& query, const std::vector<cv::Mat>& support_images,
                 const std::vector<cv::Mat>& support_masks,
                 const std::vector<uint8_t>& is_auxiliary = {}, ProgressFn progress = {},
                 OutputSize output = {});
};

// Creates the instance of the plugin's kind (throws PluginError on failure).
std::unique_ptr<Instance> create_instance(const PluginInfo& plugin, const ResolvedParams& params);

}  // namespace difss
