// PASCAL-5i as HSNet reads it (juhongm999/hsnet data/pascal.py).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <stdexcept>

#include "dataset_common.hpp"
#include "difss/data/class_names.hpp"
#include "difss/data/image_io.hpp"
#include "difss/data/splits.hpp"

namespace difss::data::detail {

std::string pascal5i_layout() {
  return R"(  <root>/                          the VOC2012 folder (or its parent holding VOC2012/)
    JPEGImages/<ID>.jpg
    SegmentationClassAug/<ID>.png   class-index PNGs (grey or palette): 0 bg, 1..20, 255 boundary
                                    (option mask_dir = another folder, e.g. SegmentationClass)
    ImageSets/Segmentation/val.txt  VOC's val image ids (only to derive the lists, see split_dir)
  split lists, either
    split_dir = <HSNet>/data/splits  reads pascal/val/fold<k>.txt (trn: pascal/trn/fold<j>.txt,
                                     j != k), lines "IMAGEID__CC", or
    no split_dir                     derived: the pairs (image, class of the fold) whose class covers
                                     >= 2048 pixels (option min_pixels); val images from
                                     ImageSets/Segmentation/val.txt, trn = every other mask)";
}

namespace {

class Pascal5i final : public Dataset {
 public:
  explicit Pascal5i(const DatasetConfig& cfg) : Dataset(cfg) {
    check_options(cfg, {"mask_dir", "min_pixels", "image_set"});
    const std::string layout = pascal5i_layout();
    if (cfg.fold < 0 || cfg.fold > 3)
      throw std::invalid_argument("pascal5i: fold must be 0..3, got " + std::to_string(cfg.fold));
    const std::string split = cfg.split == "test" ? "val" : (cfg.split == "train" ? "trn" : cfg.split);
    if (split != "val" && split != "trn")
      throw std::invalid_argument("pascal5i: split must be val, test or trn, got '" + cfg.split + "'");
    voc_ = resolve_root("pascal5i", cfg.root, "VOC2012", "JPEGImages", layout);
    mask_dir_ = find_mask_dir(cfg, layout);
    const long long min_pixels = option_int(cfg, "min_pixels", kHsnetMinClassPixels, 0, 1LL << 40);

    class_set_ = "pascal";
    std::vector<int> fold_classes;
    for (int c = 5 * cfg.fold + 1; c <= 5 * cfg.fold + 5; ++c) fold_classes.push_back(c);
    for (int c = 1; c <= 20; ++c) {
      const bool in_fold = c > 5 * cfg.fold && c <= 5 * cfg.fold + 5;
      if (in_fold == (split == "val"))
        classes_.push_back({c, voc_class_names()[c - 1], voc_prompt_names()[c - 1]});
    }
    // HSNet: val reads the fold's own list; trn concatenates the lists of the other folds.
    std::vector<int> folds;
    for (int f = 0; f < 4; ++f)
      if ((f == cfg.fold) == (split == "val")) folds.push_back(f);

    std::vector<ImageClassPair> pairs;
    if (!cfg.split_dir.empty()) {
      std::string used;
      for (int f : folds) {
        const std::string rel = split + "/fold" + std::to_string(f) + ".txt";
        const auto file = first_existing({cfg.split_dir / "pascal" / rel, cfg.split_dir / rel});
        if (file.empty())
          layout_error("pascal5i", "HSNet list '" + (cfg.split_dir / "pascal" / rel).string() + "' not found", layout);
        auto part = read_hsnet_pascal_list(file);
        pairs.insert(pairs.end(), part.begin(), part.end());
        used += (used.empty() ? "" : ", ") + file.string();
      }
      split_source_ = "hsnet list " + used;
    } else {
      pairs = derive(cfg, split, folds, min_pixels, layout);
    }
    for (const auto& p : pairs) {
      if (!has_class_id(p.class_id))
        throw std::runtime_error("pascal5i: the split list pairs image '" + p.image + "' with class " +
                                 std::to_string(p.class_id) + ", which is not a " + split + " class of fold " +
                                 std::to_string(cfg.fold));
      samples_.push_back({voc_ / "JPEGImages" / (p.image + ".jpg"), mask_dir_ / (p.image + ".png"), p.image,
                          p.class_id, {}});
    }
    check_sample_files("pascal5i", samples_, layout);
    protocol_ = EpisodeProtocol::sequential;
    default_episodes_ = split == "val" ? 1000 : samples_.size();
    finish();
    spdlog::info("pascal5i: fold {} {}: {} image-class pairs, {} classes ({})", cfg.fold, split, samples_.size(),
                 classes_.size(), split_source_);
  }

  std::string layout() const override { return pascal5i_layout(); }

 protected:
  cv::Mat read_mask(const Sample& s, int class_id, cv::Size) const override {
    if (class_id < 1 || class_id > 20)
      throw std::out_of_range("pascal5i: class " + std::to_string(class_id) + " is not a VOC class (1..20)");
    // HSNet extract_ignore_idx: 1 where label == class, 255 (boundary) kept as ignore, else 0.
    return class_mask(read_label_png(s.mask_path), class_id, /*keep_ignore=*/true);
  }

 private:
  bool has_class_id(int id) const {
    return std::any_of(classes_.begin(), classes_.end(), [id](const ClassInfo& c) { return c.id == id; });
  }

  std::filesystem::path find_mask_dir(const DatasetConfig& cfg, const std::string& layout) const {
    std::error_code ec;
    if (has_option(cfg, "mask_dir")) {
      std::filesystem::path d = option_str(cfg, "mask_dir", "");
      if (d.is_relative()) d = voc_ / d;
      if (!std::filesystem::is_directory(d, ec)) layout_error("pascal5i", "mask folder '" + d.string() + "' not found", layout);
      return d;
    }
    for (const char* name : {"SegmentationClassAug", "SegmentationClass", "SegmentationClassPNG"}) {
      const auto d = voc_ / name;
      if (std::filesystem::is_directory(d, ec)) {
        if (std::string(name) != "SegmentationClassAug")
          spdlog::warn("pascal5i: '{}' not found, reading masks from '{}' (HSNet uses SegmentationClassAug)",
                       (voc_ / "SegmentationClassAug").string(), d.string());
        return d;
      }
    }
    layout_error("pascal5i", "mask folder '" + (voc_ / "SegmentationClassAug").string() + "' not found", layout);
  }

  std::vector<ImageClassPair> derive(const DatasetConfig& cfg, const std::string& split, const std::vector<int>& folds,
                                     long long min_pixels, const std::string& layout) {
    std::filesystem::path set_file = option_str(cfg, "image_set", "");
    if (set_file.empty()) set_file = voc_ / "ImageSets" / "Segmentation" / "val.txt";
    else if (set_file.is_relative()) set_file = voc_ / set_file;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(set_file, ec))
      layout_error("pascal5i", "no split_dir given and VOC's val image list '" + set_file.string() +
                                   "' is missing, so the pairs cannot be derived (set split_dir to your copy of "
                                   "HSNet's data/splits, or option image_set)",
                   layout);
    const auto val_ids = read_lines(set_file);
    std::vector<std::string> ids;
    if (split == "val") {
      ids = val_ids;
    } else {
      const std::set<std::string> val(val_ids.begin(), val_ids.end());
      for (const auto& f : sorted_files(mask_dir_)) {
        const std::filesystem::path p(f);
        if (lower(p.extension().string()) == ".png" && !val.count(p.stem().string())) ids.push_back(p.stem().string());
      }
    }
    std::vector<ImageClassPair> pairs;
    for (int f : folds) {
      std::vector<int> cls;
      for (int c = 5 * f + 1; c <= 5 * f + 5; ++c) cls.push_back(c);
      auto part = derive_label_pairs(mask_dir_, ids, cls, min_pixels);
      pairs.insert(pairs.end(), part.begin(), part.end());
    }
    split_source_ = "derived from " + std::to_string(ids.size()) + " masks in " + mask_dir_.string() +
                    " (classes with >= " + std::to_string(min_pixels) + " pixels; " +
                    (split == "val" ? "val ids from " + set_file.string() : "all masks not in " + set_file.string()) +
                    ")";
    return pairs;
  }

  std::filesystem::path voc_;
  std::filesystem::path mask_dir_;
};

}  // namespace

std::unique_ptr<Dataset> open_pascal5i(const DatasetConfig& cfg) { return std::make_unique<Pascal5i>(cfg); }

}  // namespace difss::data::detail
