#include <difss/condition/checkpoint.hpp>
#include <difss/condition/tensor_mat.hpp>

#include <difss/sdk/error.hpp>
#include <difss/weights/error.hpp>
#include <difss/weights/load.hpp>

#include <ATen/ATen.h>

#include <cstdlib>
#include <cstring>

namespace difss::condition {

namespace fs = std::filesystem;

fs::path resolve_checkpoint(const std::string& param, const std::string& file_name,
                            const std::string& plugin_dir, const std::string& download_hint) {
  if (!param.empty()) {
    std::error_code ec;
    if (!fs::is_regular_file(param, ec))
      throw sdk::Error(DIFSS_ERR_NOT_FOUND, "checkpoint '" + param + "' does not exist or is not a file (" +
                                                download_hint + ")");
    return param;
  }
  std::vector<fs::path> tried;
  if (const char* env = std::getenv("DIFSS_MODELS_DIR"); env && *env) tried.push_back(fs::path(env) / file_name);
  if (!plugin_dir.empty()) tried.push_back(fs::path(plugin_dir) / "models" / file_name);
  std::string where;
  for (const auto& p : tried) {
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p;
    where += (where.empty() ? "" : ", ") + p.string();
  }
  if (where.empty()) where = "nowhere: DIFSS_MODELS_DIR is unset and the plugin directory unknown";
  throw sdk::Error(DIFSS_ERR_NOT_FOUND, "no `checkpoint` given and " + file_name + " not found (looked in " +
                                            where + "); " + download_hint);
}

weights::StateDict load_checkpoint(const fs::path& file) {
  try {
    return weights::load(file);
  } catch (const weights::WeightError& e) {
    throw sdk::Error(DIFSS_ERR_IO, e.what());
  }
}

at::Tensor image_to_nchw_float(const cv::Mat& rgb, bool bgr) {
  if (rgb.empty() || rgb.type() != CV_8UC3)
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "expected a uint8 [H, W, 3] image");
  cv::Mat c = rgb.isContinuous() ? rgb : rgb.clone();
  at::Tensor t = at::from_blob(c.data, {c.rows, c.cols, 3}, at::kByte);
  if (bgr) t = t.flip({2});
  return t.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat).contiguous();
}

cv::Mat plane_to_mat(const at::Tensor& t) {
  at::Tensor c = t.to(at::kFloat).contiguous();
  if (c.dim() < 2 || c.numel() != c.size(-1) * c.size(-2))
    throw sdk::Error(DIFSS_ERR_INTERNAL, "plane_to_mat: expected one H x W plane");
  cv::Mat m(int(c.size(-2)), int(c.size(-1)), CV_32F);
  std::memcpy(m.data, c.data_ptr<float>(), sizeof(float) * size_t(c.numel()));
  return m;
}

}  // namespace difss::condition
