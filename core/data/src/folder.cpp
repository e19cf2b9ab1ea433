// `folder`: a user's own classes — class folders, flat NAME_NN files (PerSAM), or parallel image and
// mask trees — with classes from folders, a class_map, one fixed class or mask values.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <stdexcept>

#include "class_map.hpp"
#include "dataset_common.hpp"
#include "difss/data/image_io.hpp"
#include "folder_scan.hpp"
#include "grouping.hpp"
#include "mask_rule.hpp"

namespace difss::data::detail {

std::string folder_layout() {
  return R"(  nested (one folder per class; class ids 1..N in sorted class-name order):
    <root>/<class>/<stem>.jpg|.jpeg|.png|.bmp|.tif|.tiff|.webp      images
    mask of <stem>, the first that exists:
      <root>/<class>/masks/<stem>.png
      <root>/<class>/<stem>_mask.png
      <root>/<class>/<stem>.png          (when the image itself is not a .png; FSS-1000 style)
  flat (no sub-folders; PerSAM style):
    <root>/<class>_<NN>.jpg  +  <root>/<class>_<NN>.png  (or <class>_<NN>_mask.png, masks/<class>_<NN>.png)
  parallel trees (options images and masks; sub-folders at any depth):
    <root>/<images>/<dirs>/<stem>.jpg  +  <root>/<masks>/<dirs>/<stem><mask_suffix>.png
    e.g. images = "JPEGImages", masks = "Annotations" (JPEGImages/<video>/00000.jpg) or
         images = "rgb", masks = "figure_ground", mask_ext = "jpg", class = "object"
    class: the folder at depth class_level (default 1), option class (one class for all),
           option class_map (class -> folders, inline table or file) or mask_values
  masks: 0/1, 0/255 (>= 128 is foreground) or palette (index 0 bg, 255 ignore, other fg), in
         PNG/JPEG/BMP/TIFF/WebP; mask_threshold = T (value >= T is foreground), ignore_values,
         mask_values = { 1 = "cat", 2 = "dog" } (several classes per mask)
  options: layout = auto|nested|flat, images, masks, image_ext, mask_ext, mask_suffix,
           missing_masks = error|skip, class, class_level, class_map, mask_threshold, ignore_values,
           mask_values, min_pixels, group = none|folder, group_level, group_regex, mask_resize = error|nearest,
           query_order = shuffle (default)|sequential, min_images (default shots + 1), classes (subset))";
}

namespace {

// "duck_toy_02" -> "duck_toy"; "" when there is no trailing _<digits>.
std::string flat_class_of(const std::string& stem) {
  const auto us = stem.rfind('_');
  if (us == std::string::npos || us == 0 || us + 1 == stem.size()) return {};
  for (std::size_t k = us + 1; k < stem.size(); ++k)
    if (!std::isdigit(static_cast<unsigned char>(stem[k]))) return {};
  return stem.substr(0, us);
}

std::vector<std::string> extensions(const DatasetConfig& cfg, const std::string& key,
                                    const std::vector<std::string>& def) {
  std::vector<std::string> out;
  for (auto e : option_list(cfg, key, def)) {
    e = lower(e);
    if (e.front() != '.') e.insert(e.begin(), '.');
    out.push_back(e);
  }
  if (out.empty()) throw std::invalid_argument("folder: option " + key + " lists no extension");
  return out;
}

std::vector<std::string> option_names() {
  std::vector<std::string> names = {"layout", "min_images", "classes", "images", "masks", "image_ext", "mask_ext",
                                    "mask_suffix", "missing_masks", "class", "class_level", "class_map",
                                    "min_pixels", "mask_resize", "query_order"};
  for (const auto& v : {MaskRule::option_names(), GroupRule::option_names()}) names.insert(names.end(), v.begin(), v.end());
  return names;
}

class FolderDataset final : public Dataset {
 public:
  explicit FolderDataset(const DatasetConfig& cfg) : Dataset(cfg), rule_(cfg) {
    check_options(cfg, option_names());
    const std::string layout = folder_layout();
    const auto root = resolve_root("folder", cfg.root, "", "", layout);
    const bool trees = has_option(cfg, "images") || has_option(cfg, "masks");
    std::string mode = option_str(cfg, "layout", "auto");
    if (mode != "auto" && mode != "nested" && mode != "flat")
      throw std::invalid_argument("folder: option layout must be auto, nested or flat, got '" + mode + "'");
    if (trees && mode != "auto")
      throw std::invalid_argument("folder: option layout does not apply to parallel trees (options images/masks)");
    if (trees && (!has_option(cfg, "images") || !has_option(cfg, "masks")))
      throw std::invalid_argument("folder: parallel trees need both options images and masks");
    const auto image_root = (root / option_str(cfg, "images", "")).lexically_normal();
    const auto mask_root = (root / option_str(cfg, "masks", "")).lexically_normal();
    // Masks in other trees may have any image extension; next to their images only .png is
    // assumed by default (as the class-folder layout), or x.jpg would be taken for x.png's mask.
    const bool other_tree = trees && image_root != mask_root;
    MaskNaming naming;
    naming.image_exts = extensions(cfg, "image_ext", {"jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp"});
    naming.mask_exts = extensions(cfg, "mask_ext", other_tree ? std::vector<std::string>{"png", "jpg", "jpeg", "bmp", "tif", "tiff"}
                                                              : std::vector<std::string>{"png"});
    naming.mask_suffix = option_str(cfg, "mask_suffix", "");
    if (!trees && has_option(cfg, "mask_suffix"))
      throw std::invalid_argument("folder: option mask_suffix applies to parallel trees (options images/masks)");
    const std::string missing = option_str(cfg, "missing_masks", "error");
    if (missing != "error" && missing != "skip")
      throw std::invalid_argument("folder: option missing_masks must be error or skip, got '" + missing + "'");
    const GroupRule groups(cfg, /*folder_allowed=*/true);
    mask_resize_ = mask_resize_option(cfg);
    offers_mask_resize_ = offers_query_order_ = true;

    // 1. Images and masks.
    std::vector<FoundImage> found;
    if (trees) {
      std::error_code ec;
      for (const auto& d : {image_root, mask_root})
        if (!std::filesystem::is_directory(d, ec)) layout_error("folder", "folder '" + d.string() + "' not found", layout);
      found = scan_trees(image_root, mask_root, naming);
      mode = "parallel-trees";
    } else {
      std::vector<std::string> dirs;
      for (const auto& d : sorted_subdirs(root))
        if (d != "masks" && d[0] != '.') dirs.push_back(d);
      if (mode == "auto") mode = dirs.empty() ? "flat" : "nested";
      if (mode == "flat") dirs = {""};
      for (const auto& d : dirs)
        for (auto& f : scan_class_dir(d.empty() ? root : root / d, naming)) {
          f.folder = d;
          found.push_back(std::move(f));
        }
    }
    found = drop_missing_masks(std::move(found), missing == "skip", trees, naming, layout);

    // 2. Classes of the images (or of their mask values), groups.
    const long long min_images = option_int(cfg, "min_images", cfg.shots + 1, 1, 1'000'000);
    std::map<std::string, std::vector<Sample>> by_class = rule_.multi_class()
                                                               ? classes_from_values(cfg, found, groups)
                                                               : classes_from_folders(cfg, root, found, groups, mode);
    select_classes(cfg, root, by_class, min_images);
    if (classes_.empty()) {
      std::string what = "no class under '" + root.string() + "' has at least " + std::to_string(min_images) +
                         " images with masks";
      if (mode == "nested")
        what += " (only <root>/<class>/ itself is searched, not its sub-folders; for deeper or parallel image/mask "
                "trees set options images and masks)";
      layout_error("folder", what, layout);
    }
    split_source_ = mode + " folder " + root.string();
    protocol_ = query_order_option(cfg, EpisodeProtocol::shuffled);
    finish();
    spdlog::info("folder: {} layout, {} image-class pairs, {} classes{}", mode, samples_.size(), classes_.size(),
                 group_count() ? ", " + std::to_string(group_count()) + " groups" : std::string());
  }

  std::string layout() const override { return folder_layout(); }
  int aux_label(int class_id) const override { return rule_.multi_class() ? class_id : 1; }

 protected:
  cv::Mat read_mask(const Sample& s, int class_id, cv::Size) const override {
    const MaskValues mv = read_mask_values(s.mask_path);
    if (rule_.multi_class()) {
      const auto it = class_values_.find(class_id);
      return rule_.of_values(mv.values, it == class_values_.end() ? std::vector<int>{} : it->second);
    }
    cv::Mat m = rule_.binary(mv);
    if (class_id != s.class_id) m.setTo(0);  // each image holds one class
    return m;
  }

 private:
  static std::vector<FoundImage> drop_missing_masks(std::vector<FoundImage> found, bool skip, bool trees,
                                                    const MaskNaming& naming, const std::string& layout) {
    std::vector<FoundImage> kept;
    std::size_t skipped = 0;
    for (auto& f : found) {
      if (!f.mask.empty()) {
        kept.push_back(std::move(f));
        continue;
      }
      if (skip) {
        ++skipped;
        continue;
      }
      std::string where;
      if (trees) {
        where = " (tried extensions";
        for (const auto& e : naming.mask_exts) where += " " + e;
        where += " in the masks tree; option missing_masks = \"skip\" skips such images)";
      } else {
        where = "; looked for:";
        for (const auto& c : class_dir_mask_candidates(f.image, naming)) where += "\n  " + c.string();
        where += "\n(for parallel image and mask trees, e.g. rgb/ + figure_ground/, set options images and masks)";
      }
      layout_error("folder", "no mask for image '" + f.image.string() + "'" + where, layout);
    }
    if (skipped) spdlog::info("folder: {} image(s) without a mask skipped (missing_masks = skip)", skipped);
    return kept;
  }

  static std::string sample_name(const FoundImage& f) { return f.folder.empty() ? f.stem : f.folder + "/" + f.stem; }

  // Class per image: option class, class_map, the flat NAME_NN rule or the folder at class_level.
  std::map<std::string, std::vector<Sample>> classes_from_folders(const DatasetConfig& cfg,
                                                                  const std::filesystem::path& root,
                                                                  const std::vector<FoundImage>& found,
                                                                  const GroupRule& groups, const std::string& mode) {
    const std::string fixed = option_str(cfg, "class", "");
    const ClassMap map = has_option(cfg, "class_map") ? ClassMap(cfg, root) : ClassMap();
    const int level = static_cast<int>(option_int(cfg, "class_level", 1, 1, 64));
    if (int(!fixed.empty()) + int(!map.empty()) + int(has_option(cfg, "class_level")) > 1)
      throw std::invalid_argument("folder: give at most one of the options class, class_map and class_level");
    std::map<std::string, std::vector<Sample>> by_class;
    std::set<std::string> names;
    std::size_t unmapped = 0;
    for (const auto& f : found) {
      std::string cls = fixed;
      if (cls.empty() && !map.empty()) {
        cls = map.class_of(f.folder);
        if (cls.empty()) {
          ++unmapped;
          continue;
        }
      } else if (cls.empty() && mode == "flat") {
        cls = flat_class_of(f.stem);
        if (cls.empty())
          layout_error("folder", "flat layout: image '" + f.image.string() + "' is not named <class>_<NN>", folder_layout());
      } else if (cls.empty()) {
        cls = folder_component(f.folder, level);
        if (cls.empty())
          layout_error("folder", "image '" + f.image.string() + "' is not inside a class folder at depth " +
                                     std::to_string(level) + "; set option class (one class for all images), "
                                     "class_map or class_level",
                       folder_layout());
      }
      const std::string name = sample_name(f);
      if (!names.insert(name).second)
        throw std::runtime_error("folder: two images have the name '" + name + "' (same stem, other extension?): " +
                                 f.image.string());
      by_class[cls].push_back({f.image, f.mask, name, 0, groups.group_of(name, f.folder)});
    }
    if (unmapped) spdlog::info("folder: {} image(s) in folders that class_map does not list are skipped", unmapped);
    return by_class;
  }

  // Classes from mask values: one sample per (image, class present with >= min_pixels pixels).
  std::map<std::string, std::vector<Sample>> classes_from_values(const DatasetConfig& cfg,
                                                                 const std::vector<FoundImage>& found,
                                                                 const GroupRule& groups) {
    for (const char* k : {"class", "class_map", "class_level"})
      if (has_option(cfg, k))
        throw std::invalid_argument(std::string("folder: option ") + k + " and mask_values exclude each other "
                                    "(with mask_values the classes come from the masks)");
    const long long min_pixels = option_int(cfg, "min_pixels", 1, 1, kMaxImagePixels);
    std::map<std::string, std::vector<Sample>> by_class;
    for (const auto& [v, name] : rule_.value_classes()) by_class[name];
    for (const auto& f : found) {
      const std::string name = sample_name(f);
      const std::string group = groups.group_of(name, f.folder);
      const cv::Mat values = read_mask_values(f.mask).values;
      std::vector<long long> hist(256, 0);
      const std::uint8_t* p = values.ptr<std::uint8_t>();
      for (std::size_t i = 0; i < values.total(); ++i) ++hist[p[i]];
      std::map<std::string, long long> pixels;
      for (const auto& [v, cls] : rule_.value_classes()) pixels[cls] += hist[static_cast<std::size_t>(v)];
      for (const auto& [cls, n] : pixels)
        if (n >= min_pixels) by_class[cls].push_back({f.image, f.mask, name, 0, group});
    }
    return by_class;
  }

  // Ids 1..N over all classes in sorted name order; the `classes` subset and min_images select.
  void select_classes(const DatasetConfig& cfg, const std::filesystem::path& root,
                      std::map<std::string, std::vector<Sample>>& by_class, long long min_images) {
    std::set<std::string> wanted;
    for (const auto& item : option_list(cfg, "classes", {})) {
      if (!by_class.count(item))
        throw std::invalid_argument("folder: option classes names '" + item + "', which is not a class under '" +
                                    root.string() + "'");
      wanted.insert(item);
    }
    int id = 0;
    for (auto& [cls, items] : by_class) {
      ++id;  // ids follow the sorted list of all classes, so a subset keeps them stable
      if (!wanted.empty() && !wanted.count(cls)) continue;
      if (static_cast<long long>(items.size()) < min_images) {
        spdlog::info("folder: class '{}' has {} image(s), fewer than {}: not evaluated", cls, items.size(), min_images);
        continue;
      }
      std::string prompt = cls;
      std::replace(prompt.begin(), prompt.end(), '_', ' ');
      classes_.push_back({id, cls, prompt});
      for (auto& s : items) {
        s.class_id = id;
        samples_.push_back(std::move(s));
      }
      if (rule_.multi_class())
        for (const auto& [v, name] : rule_.value_classes())
          if (name == cls) class_values_[id].push_back(v);
    }
  }

  MaskRule rule_;
  std::map<int, std::vector<int>> class_values_;  // mask_values: class id -> its mask values
};

}  // namespace

std::unique_ptr<Dataset> open_folder(const DatasetConfig& cfg) { return std::make_unique<FolderDataset>(cfg); }

}  // namespace difss::data::detail
