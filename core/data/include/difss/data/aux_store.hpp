// The auxiliary-support store: generated images saved under DifFSS's names, so that sets made by
// difss are read by the official Python code and vice versa.
//
//   <root>/<support name>_<class>_<k>.jpg      k = 0, 1, ...   (ControlNet4FSS FSSpregenerate.py
//   <root>/<support name>_<class>_control.jpg                    writes these; DifFSS-BAM reads
//                                                                 .jpg, then .png)
// <support name> is Sample::name (may contain one sub-folder: "val2014/COCO_val2014_...",
// "eiffel_tower/1"); <class> is Dataset::aux_label (the class's value in the mask file).
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace difss::data {

class Dataset;

enum class MissingAux {
  fallback_to_support,  // DifFSS-BAM: a missing aux image is replaced by the real support
  error,
};

struct AuxSupport {
  cv::Mat image;               // RGB uint8, resized (bilinear) to the real support's size
  cv::Mat mask;                // the real support's mask (0/1/255), at the support's size
  std::filesystem::path path;  // the file read; empty for a fallback
  bool is_fallback = false;
};

class AuxSupportStore {
 public:
  explicit AuxSupportStore(std::filesystem::path root);
  const std::filesystem::path& root() const { return root_; }

  // "<root>/<name>_<label>_<k><ext>". `name` must be relative without "..".
  std::filesystem::path image_path(const std::string& name, int label, int k,
                                   const std::string& ext = ".jpg") const;
  std::filesystem::path image_path(const Dataset& dataset, std::size_t sample, int class_id,
                                   int k) const;
  std::filesystem::path control_path(const std::string& name, int label) const;
  // The existing file for (name, label, k): ".jpg" first, then ".png" (DifFSS-BAM's order).
  std::optional<std::filesystem::path> find(const std::string& name, int label, int k) const;
  // How many consecutive aux images exist from k = 0 (at most `max_k`).
  int count(const Dataset& dataset, std::size_t sample, int class_id, int max_k) const;

  // Writes an RGB uint8 image atomically as JPEG (quality 95, cv2.imwrite's default, as
  // FSSpregenerate.py) or PNG by `ext`; creates sub-folders. Returns the path written.
  std::filesystem::path write(const std::string& name, int label, int k, const cv::Mat& rgb,
                              const std::string& ext = ".jpg") const;
  std::filesystem::path write(const Dataset& dataset, std::size_t sample, int class_id, int k,
                              const cv::Mat& rgb) const;
  std::filesystem::path write_control(const std::string& name, int label, const cv::Mat& rgb) const;

  // The `n` aux supports of support sample `sample` for `class_id`, k = 0..n-1, as DifFSS-BAM
  // builds them: image resized with bilinear interpolation (cv::INTER_LINEAR) to the real
  // support's size, paired with the real support's mask.
  std::vector<AuxSupport> load(const Dataset& dataset, std::size_t sample, int class_id, int n,
                               MissingAux missing = MissingAux::fallback_to_support) const;

 private:
  std::filesystem::path root_;
};

}  // namespace difss::data
