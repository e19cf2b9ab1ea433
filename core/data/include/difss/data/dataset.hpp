// Few-shot segmentation datasets: image-class pairs, their images and binary masks.
//
// Built-in kinds (see core/data/README.md for each folder layout):
//   pascal5i  PASCAL-5i (VOC2012 + SBD aug masks), HSNet's folds and val lists
//   coco20i   COCO-20i (COCO 2014 + HSNet's label PNGs), HSNet's interleaved folds
//   fss1000   FSS-1000 class folders, HSNet's trn/val/test class lists
//   folder    a user's own classes: one folder per class (or flat NAME_NN files, as PerSAM's),
//             parallel image/mask trees, classes from folders, a mapping file or mask values
//   coco-json COCO-style JSON annotations (polygons, RLE, iscrowd) + an image folder
//   yolo-seg  images + YOLO polygon labels (Ultralytics layout), polygons rasterised to masks
//   synthetic procedurally drawn shapes, no files (for end-to-end tests)
//
// Class ids are 1-based everywhere: the label value of the class in a multi-class label map
// (PASCAL 1..20, COCO 1..80, YOLO class + 1), HSNet's 0-based class id + 1 for FSS-1000
// (trn 1..520, val 521..760, test 761..1000), sorted folder order + 1 for `folder`.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <opencv2/core.hpp>

namespace difss::data {

struct ClassInfo {
  int id = 0;               // 1-based, see above
  std::string name;         // the dataset's own spelling (VOC "aeroplane", FSS folder name, ...)
  std::string prompt_name;  // for text prompts (ControlNet4FSS's constant.py names where it has one)
};

// One image-class pair. The same image appears once per class it is used for.
struct Sample {
  std::filesystem::path image_path;
  std::filesystem::path mask_path;  // label/mask PNG, YOLO .txt; empty for `synthetic`
  std::string name;  // relative stem used in aux-support names: "2007_000033",
                     // "val2014/COCO_val2014_000000000042", "eiffel_tower/1"
  int class_id = 0;
  std::string group;  // e.g. the video or patient; "" when the dataset defines no groups
                      // (support_sampling = cross_group draws supports from other groups)
};

struct DatasetConfig {
  std::string kind;
  std::filesystem::path root;
  int fold = 0;                      // pascal5i / coco20i: 0..3
  int shots = 1;
  std::string split = "val";         // "val"/"test" (evaluation), "trn" (training)
  std::filesystem::path split_dir;   // optional: the user's copy of HSNet's data/splits
  std::map<std::string, std::string> options;  // kind-specific; unknown keys are an error
};

// How the query of episode i is chosen (HSNet's two dataloader structures).
enum class EpisodeProtocol {
  sequential,     // query = samples()[i % samples().size()]  (HSNet PASCAL, FSS-1000)
  class_uniform,  // class uniform among classes(), query uniform among its samples (HSNet COCO)
  shuffled,       // a seeded permutation of samples() per pass: every sample is queried once
                  // before any repeats, and the first classes().size() queries cover every class
};

// What a dataset does with a mask whose size differs from its image's (option `mask_resize`).
enum class MaskResize { error, nearest };

class Dataset {
 public:
  virtual ~Dataset();
  Dataset(const Dataset&) = delete;
  Dataset& operator=(const Dataset&) = delete;

  const DatasetConfig& config() const { return config_; }
  const std::string& kind() const { return config_.kind; }
  // Which class-name set the ids refer to: "pascal", "coco", "fss1000" or "custom" (condition
  // generators map classes to ADE colours by it).
  const std::string& class_set() const { return class_set_; }
  // The classes of this split/fold (the evaluation classes of the fold for val/test).
  const std::vector<ClassInfo>& classes() const { return classes_; }
  std::vector<int> class_ids() const;  // ids of classes(), e.g. for IoUAccumulator
  bool has_class(int class_id) const;
  const ClassInfo& class_info(int class_id) const;  // throws for an unknown id
  // The image-class pairs of the split, in the official list order. Only classes() occur.
  const std::vector<Sample>& samples() const { return samples_; }
  // Indices into samples() of one class, in order (HSNet's img_metadata_classwise).
  const std::vector<std::size_t>& samples_of_class(int class_id) const;

  EpisodeProtocol episode_protocol() const { return protocol_; }
  // HSNet's episode count: 1000 for PASCAL/COCO evaluation, else samples().size().
  std::size_t default_episode_count() const { return default_episodes_; }
  // Where the pair list came from, for reports ("hsnet list <path>", "derived from ...").
  const std::string& split_source() const { return split_source_; }

  // RGB uint8 HxWx3.
  cv::Mat load_image(std::size_t i) const;
  // uint8 HxW: 0 background, 1 foreground of `class_id`, 255 ignore. When the mask's size differs
  // from the image's: resized with resize_nearest under mask_resize = nearest, else an error
  // naming both files and both sizes.
  cv::Mat load_mask(std::size_t i, int class_id) const;
  cv::Mat load_mask(std::size_t i) const { return load_mask(i, sample_at(i).class_id); }
  cv::Size image_size(std::size_t i) const;
  // The size of sample i's mask as stored, from the file header where the format has one (PNG,
  // JPEG; others are decoded); drawn masks (yolo-seg, coco-json, synthetic) give the size they are
  // drawn at. With image_size, a cheap check before anything heavy runs (check_dataset_files).
  cv::Size mask_size(std::size_t i) const;
  MaskResize mask_resize() const { return mask_resize_; }

  // The {class} of DifFSS aux-support file names for this class: the class's value in the mask
  // file (PASCAL/COCO/YOLO: the id; binary-mask datasets FSS-1000/folder: 1, as
  // ControlNet4FSS's FSSpregenerate.py writes them).
  virtual int aux_label(int class_id) const;
  // The expected folder layout, for documentation and error messages.
  virtual std::string layout() const = 0;
  // Summary for run reports: kind, root, fold, split, split source, classes with sample counts.
  nlohmann::json describe() const;
  // Advice for a run in which some classes got no episode, in terms of this reader's options
  // (e.g. "raise [dataset] episodes to at least 12"), for the host's warning.
  virtual std::string coverage_advice() const;
  // Number of distinct non-empty Sample::group values (0: the dataset defines no groups).
  std::size_t group_count() const;

 protected:
  explicit Dataset(DatasetConfig config);
  // Subclasses fill these in their constructor, then call finish().
  std::string class_set_ = "custom";
  std::vector<ClassInfo> classes_;
  std::vector<Sample> samples_;
  EpisodeProtocol protocol_ = EpisodeProtocol::sequential;
  std::size_t default_episodes_ = 0;  // 0: samples_.size()
  std::string split_source_;
  MaskResize mask_resize_ = MaskResize::error;
  bool offers_mask_resize_ = false;   // the kind has the option (named in the size error)
  bool offers_query_order_ = false;   // the kind has option query_order (named in advice)
  // Validates ids, drops nothing, builds the per-class index; throws on an empty dataset.
  void finish();

  const Sample& sample_at(std::size_t i) const;
  virtual cv::Mat read_image(const Sample& s) const;
  virtual cv::Size read_image_size(const Sample& s) const;
  virtual cv::Size read_mask_size(const Sample& s) const;  // default: the header of s.mask_path
  // The binary mask (0/1/255) of `class_id`, at the stored size of the mask file (or at
  // `image_size` for masks that are drawn, e.g. YOLO polygons).
  virtual cv::Mat read_mask(const Sample& s, int class_id, cv::Size image_size) const = 0;

 private:
  DatasetConfig config_;
  std::map<int, std::size_t> class_index_;
  std::map<int, std::vector<std::size_t>> by_class_;
};

using DatasetFactory = std::function<std::unique_ptr<Dataset>(const DatasetConfig&)>;

struct DatasetKindInfo {
  std::string kind;
  std::string summary;
  std::string layout;
};

// Opens a dataset by config.kind. An unknown kind raises an error listing the known kinds; a
// missing root/list raises an error with the expected layout; unknown options are rejected.
std::unique_ptr<Dataset> open_dataset(const DatasetConfig& config);
std::vector<DatasetKindInfo> dataset_kinds();
// Adds (or replaces) a kind, e.g. from the host. Thread-safe.
void register_dataset_kind(DatasetKindInfo info, DatasetFactory factory);

}  // namespace difss::data
