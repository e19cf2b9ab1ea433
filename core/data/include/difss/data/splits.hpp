// HSNet's split lists (juhongm999/hsnet data/splits), read from the user's copy, and the rules
// that derive the same image-class pairs from a dataset's own masks.
//
// difss ships none of these lists (third-party data). See README "Split lists".
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>

namespace difss::data {

// PFENet/BAM's object-size rule, which HSNet's PASCAL lists follow: an (image, class) pair is
// kept when the class covers at least 2 * 32 * 32 pixels of the label map.
inline constexpr std::int64_t kHsnetMinClassPixels = 2 * 32 * 32;

struct ImageClassPair {
  std::string image;  // PASCAL: image id "2007_000033"; COCO: "val2014/COCO_val2014_....jpg"
  int class_id = 0;   // 1-based label value
  bool operator==(const ImageClassPair& o) const { return image == o.image && class_id == o.class_id; }
};

// A text file's non-empty lines, '\r' stripped (HSNet's FSS lists have CRLF endings).
std::vector<std::string> read_lines(const std::filesystem::path& path);

// HSNet PASCAL list: lines "IMAGEID__CC" (CC = 1-based class, 2 digits). File order kept.
std::vector<ImageClassPair> read_hsnet_pascal_list(const std::filesystem::path& path);

// HSNet COCO split: class (0-based key) -> image paths relative to the COCO root, in file order.
// Reads HSNet's own fold pickle (`foldN.pkl`: a protocol-2..5 pickle of dict[int, list[str]],
// parsed by a small restricted reader, never executed) or a text conversion with lines
// "CLASS IMAGEPATH" (CLASS 0-based). Classes with empty lists are kept.
std::vector<std::pair<int, std::vector<std::string>>> read_hsnet_coco_split(
    const std::filesystem::path& path);
// The restricted pickle reader itself; `source` names the data in error messages.
std::vector<std::pair<int, std::vector<std::string>>> parse_pickled_class_lists(
    const std::string& bytes, const std::string& source);

// Pixel count of every value 0..255 in a CV_8UC1 label map.
std::vector<std::int64_t> label_histogram(const cv::Mat& labels);

// The derivation rule: the classes among `candidates` that cover >= min_pixels pixels.
std::vector<int> classes_present(const cv::Mat& labels, const std::vector<int>& candidates,
                                 std::int64_t min_pixels = kHsnetMinClassPixels);

// Derives HSNet-style PASCAL pairs: for every image id, read `<mask_dir>/<id>.png` and keep
// (id, c) for each c in `classes` with >= min_pixels pixels; sorted by "ID__CC" as HSNet's val
// lists are.
std::vector<ImageClassPair> derive_label_pairs(const std::filesystem::path& mask_dir,
                                               const std::vector<std::string>& image_ids,
                                               const std::vector<int>& classes,
                                               std::int64_t min_pixels = kHsnetMinClassPixels);

}  // namespace difss::data
