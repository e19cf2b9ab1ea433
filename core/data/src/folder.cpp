// `folder`: a user's own classes, nested (one folder per class) or flat (PerSAM's NAME_NN files).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "dataset_common.hpp"
#include "difss/data/image_io.hpp"

namespace difss::data::detail {

std::string folder_layout() {
  return R"(  nested (one folder per class; class ids 1..N in sorted folder-name order):
    <root>/<class>/<stem>.jpg|.jpeg|.png|.bmp|.tif|.webp      images
    mask of <stem>, the first that exists:
      <root>/<class>/masks/<stem>.png
      <root>/<class>/<stem>_mask.png
      <root>/<class>/<stem>.png          (when the image itself is not a .png; FSS-1000 style)
  flat (no sub-folders; PerSAM style):
    <root>/<class>_<NN>.jpg  +  <root>/<class>_<NN>.png  (or <class>_<NN>_mask.png, masks/<class>_<NN>.png)
  masks: 0/1, 0/255 (>= 128 is foreground) or palette PNGs (index 0 bg, 255 ignore, other fg)
  options: layout = auto|nested|flat, min_images = classes with fewer images are not evaluated
           (default shots + 1), classes = comma-separated subset of class names)";
}

namespace {

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

// "duck_toy_02" -> "duck_toy"; "" when there is no trailing _<digits>.
std::string flat_class_of(const std::string& stem) {
  const auto us = stem.rfind('_');
  if (us == std::string::npos || us == 0 || us + 1 == stem.size()) return {};
  for (std::size_t k = us + 1; k < stem.size(); ++k)
    if (!std::isdigit(static_cast<unsigned char>(stem[k]))) return {};
  return stem.substr(0, us);
}

struct Found {
  std::string cls, stem, name;
  std::filesystem::path image, mask;
};

// Images of one folder with their masks (see the layout above).
std::vector<Found> scan(const std::filesystem::path& dir, const std::string& layout) {
  const auto files = sorted_files(dir);
  std::set<std::string> non_png_stems;
  for (const auto& f : files) {
    const std::filesystem::path p(f);
    const auto e = lower(p.extension().string());
    if (is_image_extension(e) && e != ".png") non_png_stems.insert(p.stem().string());
  }
  std::vector<Found> out;
  for (const auto& f : files) {
    const std::filesystem::path p(f);
    const auto e = lower(p.extension().string());
    const std::string stem = p.stem().string();
    if (!is_image_extension(e) || ends_with(stem, "_mask")) continue;
    if (e == ".png" && non_png_stems.count(stem)) continue;  // the mask of <stem>.jpg
    std::vector<std::filesystem::path> cands = {dir / "masks" / (stem + ".png"), dir / (stem + "_mask.png")};
    if (e != ".png") cands.push_back(dir / (stem + ".png"));
    const auto mask = first_existing(cands);
    if (mask.empty()) {
      std::string where;
      for (const auto& c : cands) where += "\n  " + c.string();
      layout_error("folder", "no mask for image '" + (dir / f).string() + "'; looked for:" + where, layout);
    }
    out.push_back({"", stem, "", dir / f, mask});
  }
  return out;
}

class FolderDataset final : public Dataset {
 public:
  explicit FolderDataset(const DatasetConfig& cfg) : Dataset(cfg) {
    check_options(cfg, {"layout", "min_images", "classes"});
    const std::string layout = folder_layout();
    const auto root = resolve_root("folder", cfg.root, "", "", layout);
    std::string mode = option_str(cfg, "layout", "auto");
    if (mode != "auto" && mode != "nested" && mode != "flat")
      throw std::invalid_argument("folder: option layout must be auto, nested or flat, got '" + mode + "'");
    std::vector<std::string> dirs;
    for (const auto& d : sorted_subdirs(root))
      if (d != "masks" && d[0] != '.') dirs.push_back(d);
    if (mode == "auto") mode = dirs.empty() ? "flat" : "nested";
    const long long min_images = option_int(cfg, "min_images", cfg.shots + 1, 1, 1'000'000);

    std::map<std::string, std::vector<Found>> by_class;
    if (mode == "nested") {
      for (const auto& d : dirs)
        for (auto& f : scan(root / d, layout)) {
          f.cls = d;
          f.name = d + "/" + f.stem;
          by_class[d].push_back(std::move(f));
        }
    } else {
      for (auto& f : scan(root, layout)) {
        f.cls = flat_class_of(f.stem);
        if (f.cls.empty())
          layout_error("folder", "flat layout: image '" + f.image.string() + "' is not named <class>_<NN>", layout);
        f.name = f.stem;
        by_class[f.cls].push_back(std::move(f));
      }
    }
    std::set<std::string> wanted;
    if (has_option(cfg, "classes")) {
      std::stringstream ss(option_str(cfg, "classes", ""));
      for (std::string item; std::getline(ss, item, ',');) {
        const auto b = item.find_first_not_of(' '), e = item.find_last_not_of(' ');
        if (b == std::string::npos) continue;
        item = item.substr(b, e - b + 1);
        if (!by_class.count(item))
          throw std::invalid_argument("folder: option classes names '" + item + "', which is not a class under '" +
                                      root.string() + "'");
        wanted.insert(item);
      }
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
      for (auto& f : items) samples_.push_back({f.image, f.mask, f.name, id});
    }
    if (classes_.empty())
      layout_error("folder", "no class under '" + root.string() + "' has at least " + std::to_string(min_images) +
                                 " images with masks",
                   layout);
    split_source_ = mode + " folder " + root.string();
    protocol_ = EpisodeProtocol::sequential;
    finish();
    spdlog::info("folder: {} layout, {} images, {} classes", mode, samples_.size(), classes_.size());
  }

  std::string layout() const override { return folder_layout(); }
  int aux_label(int) const override { return 1; }

 protected:
  cv::Mat read_mask(const Sample& s, int class_id, cv::Size) const override {
    cv::Mat m = read_binary_mask(s.mask_path);
    if (class_id != s.class_id) m.setTo(0);  // each image holds one class
    return m;
  }
};

}  // namespace

std::unique_ptr<Dataset> open_folder(const DatasetConfig& cfg) { return std::make_unique<FolderDataset>(cfg); }

}  // namespace difss::data::detail
