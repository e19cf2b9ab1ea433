// COCO-20i as HSNet reads it (juhongm999/hsnet data/coco.py).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <stdexcept>

#include "dataset_common.hpp"
#include "difss/data/class_names.hpp"
#include "difss/data/image_io.hpp"
#include "difss/data/splits.hpp"

namespace difss::data::detail {

std::string coco20i_layout() {
  return R"(  <root>/                          the COCO 2014 folder (or its parent holding COCO2014/)
    train2014/COCO_train2014_<N>.jpg
    val2014/COCO_val2014_<N>.jpg
    annotations/train2014/COCO_train2014_<N>.png   label PNGs: 0 bg, 1..80 = COCO class (contiguous
    annotations/val2014/COCO_val2014_<N>.png       order, person = 1 ... toothbrush = 80)
  folds are interleaved: fold k evaluates classes k+1, k+5, ..., k+77 (1-based)
  split lists, either
    split_dir = <HSNet>/data/splits  reads coco/<val|trn>/fold<k>.pkl (HSNet's pickle) or fold<k>.txt
                                     (lines "CLASS IMAGEPATH", CLASS 0-based, path relative to <root>)
    no split_dir                     derived: every image whose label PNG has >= 2048 pixels of the
                                     class (option min_pixels; reads every label PNG of the split)
  option ignore_255 = 1: label 255 is not scored (the BAM-family loaders' ignore label; HSNet's has none))";
}

namespace {

class Coco20i final : public Dataset {
 public:
  explicit Coco20i(const DatasetConfig& cfg) : Dataset(cfg) {
    check_options(cfg, {"min_pixels", "ignore_255"});
    const std::string layout = coco20i_layout();
    if (cfg.fold < 0 || cfg.fold > 3)
      throw std::invalid_argument("coco20i: fold must be 0..3, got " + std::to_string(cfg.fold));
    const std::string split = cfg.split == "test" ? "val" : (cfg.split == "train" ? "trn" : cfg.split);
    if (split != "val" && split != "trn")
      throw std::invalid_argument("coco20i: split must be val, test or trn, got '" + cfg.split + "'");
    const std::string image_dir = split == "val" ? "val2014" : "train2014";
    root_ = resolve_root("coco20i", cfg.root, "COCO2014", "annotations", layout);
    const long long min_pixels = option_int(cfg, "min_pixels", kHsnetMinClassPixels, 0, 1LL << 40);
    keep_ignore_ = option_int(cfg, "ignore_255", 0, 0, 1) == 1;

    class_set_ = "coco";
    // HSNet build_class_ids: class_ids_val = [fold + 4 * v for v in range(20)] (0-based).
    for (int c0 = 0; c0 < 80; ++c0) {
      const bool in_fold = c0 % 4 == cfg.fold;
      if (in_fold == (split == "val"))
        classes_.push_back({c0 + 1, coco_class_names()[c0], coco_prompt_names()[c0]});
    }

    std::map<int, std::vector<std::string>> lists;  // 1-based class -> relative image paths
    if (!cfg.split_dir.empty()) {
      const std::string base = split + "/fold" + std::to_string(cfg.fold);
      const auto file = first_existing({cfg.split_dir / "coco" / (base + ".pkl"), cfg.split_dir / "coco" / (base + ".txt"),
                                        cfg.split_dir / (base + ".pkl"), cfg.split_dir / (base + ".txt")});
      if (file.empty())
        layout_error("coco20i", "HSNet list '" + (cfg.split_dir / "coco" / (base + ".pkl")).string() + "' (or .txt) not found",
                     layout);
      for (auto& [c0, imgs] : read_hsnet_coco_split(file)) {
        if (!has(c0 + 1)) {
          if (!imgs.empty())
            spdlog::debug("coco20i: ignoring {} images of class {} in {} (not a {} class of fold {})", imgs.size(),
                          c0, file.string(), split, cfg.fold);
          continue;
        }
        auto& dst = lists[c0 + 1];
        dst.insert(dst.end(), imgs.begin(), imgs.end());
      }
      split_source_ = "hsnet list " + file.string();
    } else {
      derive(image_dir, min_pixels, layout, lists);
    }
    // HSNet's img_metadata_classwise in class_ids order.
    for (const auto& c : classes_) {
      const auto it = lists.find(c.id);
      if (it == lists.end()) continue;
      for (const auto& rel : it->second) {
        const auto dot = rel.rfind(".jpg");
        if (dot == std::string::npos || rel.find("..") != std::string::npos || rel.empty() || rel[0] == '/')
          throw std::runtime_error("coco20i: split entry '" + rel + "' is not a relative '<split>2014/<name>.jpg' path");
        const std::string stem = rel.substr(0, dot);
        samples_.push_back({root_ / rel, root_ / "annotations" / (stem + ".png"), stem, c.id, {}});
      }
    }
    check_sample_files("coco20i", samples_, layout);
    protocol_ = EpisodeProtocol::class_uniform;
    default_episodes_ = split == "val" ? 1000 : samples_.size();
    finish();
    spdlog::info("coco20i: fold {} {}: {} image-class pairs, {} classes ({})", cfg.fold, split, samples_.size(),
                 classes_.size(), split_source_);
  }

  std::string layout() const override { return coco20i_layout(); }

 protected:
  cv::Mat read_mask(const Sample& s, int class_id, cv::Size) const override {
    if (class_id < 1 || class_id > 80)
      throw std::out_of_range("coco20i: class " + std::to_string(class_id) + " is not a COCO class (1..80)");
    // HSNet: mask[mask != c+1] = 0; mask[mask == c+1] = 1 (no ignore label for COCO). BAM's SemData
    // keeps 255 as ignore in every dataset (ignore_255 = 1).
    return class_mask(read_label_png(s.mask_path), class_id, keep_ignore_);
  }

 private:
  bool has(int id) const {
    return std::any_of(classes_.begin(), classes_.end(), [id](const ClassInfo& c) { return c.id == id; });
  }

  void derive(const std::string& image_dir, long long min_pixels, const std::string& layout,
              std::map<int, std::vector<std::string>>& lists) {
    const auto ann = root_ / "annotations" / image_dir;
    std::error_code ec;
    if (!std::filesystem::is_directory(ann, ec)) layout_error("coco20i", "'" + ann.string() + "' not found", layout);
    std::vector<int> ids;
    for (const auto& c : classes_) ids.push_back(c.id);
    const auto files = sorted_files(ann);
    spdlog::warn("coco20i: no split_dir given; deriving the {} lists from {} label PNGs (slow; HSNet's own lists "
                 "are the reference, see README)", image_dir, files.size());
    for (const auto& f : files) {
      const std::filesystem::path p(f);
      if (lower(p.extension().string()) != ".png") continue;
      const cv::Mat labels = read_label_png(ann / f);
      for (int c : classes_present(labels, ids, min_pixels)) lists[c].push_back(image_dir + "/" + p.stem().string() + ".jpg");
    }
    split_source_ = "derived from the label PNGs in " + ann.string() + " (classes with >= " +
                    std::to_string(min_pixels) + " pixels)";
  }

  std::filesystem::path root_;
  bool keep_ignore_ = false;
};

}  // namespace

std::unique_ptr<Dataset> open_coco20i(const DatasetConfig& cfg) { return std::make_unique<Coco20i>(cfg); }

}  // namespace difss::data::detail
