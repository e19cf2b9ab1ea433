// DifFSS aux-support naming, atomic writes, DifFSS-BAM-style loading; see aux_store.hpp.
#include "difss/data/aux_store.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "difss/data/atomic_file.hpp"
#include "difss/data/dataset.hpp"
#include "difss/data/image_io.hpp"

namespace difss::data {
namespace {

// A sample name must stay inside the store: relative, no "..", no empty components.
void check_name(const std::string& name) {
  const std::filesystem::path p(name);
  bool ok = !name.empty() && p.is_relative() && name.find('\\') == std::string::npos && name.back() != '/';
  for (const auto& part : p)
    if (part == ".." || part == "." || part.empty()) ok = false;
  if (!ok) throw std::invalid_argument("aux store: support name '" + name + "' must be a relative path without '..'");
}

}  // namespace

AuxSupportStore::AuxSupportStore(std::filesystem::path root) : root_(std::move(root)) {
  if (root_.empty()) throw std::invalid_argument("aux store: empty root folder");
}

std::filesystem::path AuxSupportStore::image_path(const std::string& name, int label, int k, const std::string& ext) const {
  check_name(name);
  if (k < 0) throw std::invalid_argument("aux store: negative aux index");
  return root_ / (name + "_" + std::to_string(label) + "_" + std::to_string(k) + ext);
}

std::filesystem::path AuxSupportStore::image_path(const Dataset& ds, std::size_t sample, int class_id, int k) const {
  return image_path(ds.samples().at(sample).name, ds.aux_label(class_id), k);
}

std::filesystem::path AuxSupportStore::control_path(const std::string& name, int label) const {
  check_name(name);
  return root_ / (name + "_" + std::to_string(label) + "_control.jpg");
}

std::optional<std::filesystem::path> AuxSupportStore::find(const std::string& name, int label, int k) const {
  std::error_code ec;
  for (const char* ext : {".jpg", ".png"}) {
    auto p = image_path(name, label, k, ext);
    if (std::filesystem::is_regular_file(p, ec)) return p;
  }
  return std::nullopt;
}

int AuxSupportStore::count(const Dataset& ds, std::size_t sample, int class_id, int max_k) const {
  const std::string& name = ds.samples().at(sample).name;
  const int label = ds.aux_label(class_id);
  int k = 0;
  while (k < max_k && find(name, label, k)) ++k;
  return k;
}

std::filesystem::path AuxSupportStore::write(const std::string& name, int label, int k, const cv::Mat& rgb,
                                             const std::string& ext) const {
  if (rgb.empty() || rgb.type() != CV_8UC3)
    throw std::invalid_argument("aux store: expected an RGB uint8 image (CV_8UC3) for '" + name + "'");
  if (ext != ".jpg" && ext != ".png") throw std::invalid_argument("aux store: extension must be .jpg or .png");
  const auto path = image_path(name, label, k, ext);
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  if (ext == ".jpg")
    imwrite_atomic(path, bgr, {cv::IMWRITE_JPEG_QUALITY, 95});
  else
    imwrite_atomic(path, bgr);
  return path;
}

std::filesystem::path AuxSupportStore::write(const Dataset& ds, std::size_t sample, int class_id, int k,
                                             const cv::Mat& rgb) const {
  return write(ds.samples().at(sample).name, ds.aux_label(class_id), k, rgb);
}

std::filesystem::path AuxSupportStore::write_control(const std::string& name, int label, const cv::Mat& rgb) const {
  if (rgb.empty() || (rgb.type() != CV_8UC3 && rgb.type() != CV_8UC1))
    throw std::invalid_argument("aux store: expected an RGB or grey uint8 control image for '" + name + "'");
  const auto path = control_path(name, label);
  cv::Mat out = rgb;
  if (rgb.type() == CV_8UC3) cv::cvtColor(rgb, out, cv::COLOR_RGB2BGR);
  imwrite_atomic(path, out, {cv::IMWRITE_JPEG_QUALITY, 95});
  return path;
}

std::vector<AuxSupport> AuxSupportStore::load(const Dataset& ds, std::size_t sample, int class_id, int n,
                                              MissingAux missing) const {
  const Sample& s = ds.samples().at(sample);
  const int label = ds.aux_label(class_id);
  const cv::Size size = ds.image_size(sample);
  const cv::Mat mask = ds.load_mask(sample, class_id);
  std::vector<AuxSupport> out;
  cv::Mat support_image;  // loaded only for a fallback
  for (int k = 0; k < n; ++k) {
    const auto path = find(s.name, label, k);
    AuxSupport a;
    a.mask = mask;
    if (!path) {
      const auto expected = image_path(s.name, label, k);
      if (missing == MissingAux::error)
        throw std::runtime_error("aux store: auxiliary support '" + expected.string() + "' (or .png) not found");
      spdlog::warn("aux store: '{}' not found, falling back to the real support (as DifFSS-BAM)", expected.string());
      if (support_image.empty()) support_image = ds.load_image(sample);
      a.image = support_image;
      a.is_fallback = true;
    } else {
      cv::Mat img = read_image_rgb(*path);
      if (img.size() != size) cv::resize(img, img, size, 0, 0, cv::INTER_LINEAR);  // DifFSS-BAM: cv2.resize(..., INTER_LINEAR)
      a.image = img;
      a.path = *path;
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace difss::data
