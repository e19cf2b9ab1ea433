// `yolo-seg`: images + YOLO polygon labels (Ultralytics layout), polygons rasterised per class.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

#include "dataset_common.hpp"
#include "difss/data/class_names.hpp"
#include "difss/data/image_io.hpp"
#include "difss/data/splits.hpp"

namespace difss::data::detail {

std::string yolo_seg_layout() {
  return R"(  <root>/images/<subset>/<stem>.jpg      (subset e.g. train2017; option subset, else the split
  <root>/labels/<subset>/<stem>.txt       name, else the only sub-folder, else images/ itself)
  label lines: "<class> x1 y1 x2 y2 ... xn yn", one object per line, class 0-based, coordinates
  normalised to [0,1], n >= 3. A class's mask is the union of its polygons. Class id = class + 1.
  class names: option names = file with one name per line (line k = class k); default the 80 COCO
  names in Ultralytics order (0 person ... 79 toothbrush). Classes with fewer than min_images
  images (default shots + 1) are not evaluated. query_order = shuffle (default) | sequential.)";
}

namespace {

struct Polygon {
  int cls = 0;  // 0-based YOLO class
  std::vector<cv::Point2d> pts;
};

constexpr std::uintmax_t kMaxLabelBytes = 64ull << 20;

std::vector<Polygon> parse_labels(const std::filesystem::path& path, std::size_t nclasses) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw std::runtime_error("yolo-seg: cannot read label file '" + path.string() + "'");
  if (size > kMaxLabelBytes) throw std::runtime_error("yolo-seg: label file '" + path.string() + "' is larger than 64 MiB");
  std::ifstream in(path);
  if (!in) throw std::runtime_error("yolo-seg: cannot open label file '" + path.string() + "'");
  std::vector<Polygon> out;
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    std::istringstream ls(line);
    std::vector<std::string> tok;
    for (std::string t; ls >> t;) tok.push_back(t);
    if (tok.empty()) continue;
    auto bad = [&](const std::string& what) {
      return std::runtime_error("yolo-seg: " + path.string() + ":" + std::to_string(n) + ": " + what);
    };
    char* end = nullptr;
    const long cls = std::strtol(tok[0].c_str(), &end, 10);
    if (*end != '\0' || cls < 0) throw bad("class '" + tok[0] + "' is not a non-negative integer");
    if (static_cast<std::size_t>(cls) >= nclasses)
      throw bad("class " + tok[0] + " is outside the " + std::to_string(nclasses) + " class names");
    const std::size_t ncoord = tok.size() - 1;
    if (ncoord == 4) throw bad("4 numbers look like a detection box (cx cy w h); expected a polygon x1 y1 ... xn yn");
    if (ncoord % 2 != 0 || ncoord < 6) throw bad("expected a polygon of >= 3 points (an even number >= 6 of coordinates)");
    Polygon p;
    p.cls = static_cast<int>(cls);
    for (std::size_t k = 1; k < tok.size(); k += 2) {
      char *e1 = nullptr, *e2 = nullptr;
      const double x = std::strtod(tok[k].c_str(), &e1), y = std::strtod(tok[k + 1].c_str(), &e2);
      if (*e1 != '\0' || *e2 != '\0' || !std::isfinite(x) || !std::isfinite(y) || x < -0.01 || x > 1.01 || y < -0.01 ||
          y > 1.01)
        throw bad("coordinate pair '" + tok[k] + " " + tok[k + 1] + "' is not a number in [0, 1]");
      p.pts.emplace_back(x, y);
    }
    out.push_back(std::move(p));
  }
  return out;
}

class YoloSeg final : public Dataset {
 public:
  explicit YoloSeg(const DatasetConfig& cfg) : Dataset(cfg) {
    check_options(cfg, {"subset", "names", "min_images", "query_order"});
    const std::string layout = yolo_seg_layout();
    const auto root = resolve_root("yolo-seg", cfg.root, "", "images", layout);
    std::error_code ec;
    if (!std::filesystem::is_directory(root / "labels", ec))
      layout_error("yolo-seg", "'" + (root / "labels").string() + "' not found", layout);
    const std::string subset = pick_subset(cfg, root, layout);
    const auto img_dir = subset.empty() ? root / "images" : root / "images" / subset;
    const auto lbl_dir = subset.empty() ? root / "labels" : root / "labels" / subset;
    if (!std::filesystem::is_directory(lbl_dir, ec))
      layout_error("yolo-seg", "label folder '" + lbl_dir.string() + "' not found", layout);

    if (has_option(cfg, "names")) {
      names_ = read_lines(option_str(cfg, "names", ""));
      class_set_ = "custom";
    } else {
      names_ = coco_class_names();
      class_set_ = "coco";
    }
    if (names_.empty() || names_.size() > 255)
      throw std::invalid_argument("yolo-seg: need 1..255 class names, got " + std::to_string(names_.size()));
    const long long min_images = option_int(cfg, "min_images", cfg.shots + 1, 1, 1'000'000);

    struct Img {
      std::filesystem::path image, label;
      std::string stem;
      std::set<int> classes;  // 1-based
    };
    std::vector<Img> imgs;
    std::map<int, std::size_t> count;
    for (const auto& f : sorted_files(img_dir)) {
      const std::filesystem::path p(f);
      if (!is_image_extension(lower(p.extension().string()))) continue;
      const auto lbl = lbl_dir / (p.stem().string() + ".txt");
      if (!std::filesystem::is_regular_file(lbl, ec)) continue;  // no label file: no objects
      Img im{img_dir / f, lbl, p.stem().string(), {}};
      for (const auto& poly : parse_labels(lbl, names_.size())) im.classes.insert(poly.cls + 1);
      for (int c : im.classes) ++count[c];
      imgs.push_back(std::move(im));
    }
    std::set<int> evaluated;
    for (const auto& [c, n] : count) {
      if (static_cast<long long>(n) < min_images) continue;
      evaluated.insert(c);
      const std::string& name = names_[static_cast<std::size_t>(c - 1)];
      const std::string prompt = class_set_ == "coco" ? coco_prompt_names()[static_cast<std::size_t>(c - 1)] : name;
      classes_.push_back({c, name, prompt});
    }
    for (const auto& im : imgs)
      for (int c : im.classes)
        if (evaluated.count(c)) samples_.push_back({im.image, im.label, im.stem, c, {}});
    if (classes_.empty())
      layout_error("yolo-seg", "no class has at least " + std::to_string(min_images) + " labelled images in '" +
                                   img_dir.string() + "'",
                   layout);
    split_source_ = "labels of " + lbl_dir.string() + " (" + std::to_string(count.size()) + " classes present, " +
                    std::to_string(classes_.size()) + " with >= " + std::to_string(min_images) + " images)";
    protocol_ = query_order_option(cfg, EpisodeProtocol::shuffled);
    offers_query_order_ = true;
    finish();
    spdlog::info("yolo-seg: {} images, {} image-class pairs, {}", imgs.size(), samples_.size(), split_source_);
  }

  std::string layout() const override { return yolo_seg_layout(); }

 protected:
  cv::Size read_mask_size(const Sample& s) const override { return read_image_size(s); }  // drawn at it
  cv::Mat read_mask(const Sample& s, int class_id, cv::Size size) const override {
    if (class_id < 1 || static_cast<std::size_t>(class_id) > names_.size())
      throw std::out_of_range("yolo-seg: class " + std::to_string(class_id) + " is outside 1.." +
                              std::to_string(names_.size()));
    cv::Mat mask = cv::Mat::zeros(size, CV_8UC1);
    constexpr int kShift = 8;  // sub-pixel vertices: 1/256 pixel
    for (const auto& poly : parse_labels(s.mask_path, names_.size())) {
      if (poly.cls + 1 != class_id) continue;
      std::vector<cv::Point> pts;
      pts.reserve(poly.pts.size());
      // Continuous image coordinates (x * W) to OpenCV's pixel-centre coordinates (- 0.5).
      for (const auto& q : poly.pts)
        pts.emplace_back(static_cast<int>(std::lround((q.x * size.width - 0.5) * (1 << kShift))),
                         static_cast<int>(std::lround((q.y * size.height - 0.5) * (1 << kShift))));
      const cv::Point* ptr = pts.data();
      const int n = static_cast<int>(pts.size());
      cv::fillPoly(mask, &ptr, &n, 1, cv::Scalar(1), cv::LINE_8, kShift);
    }
    return mask;
  }

 private:
  static std::string pick_subset(const DatasetConfig& cfg, const std::filesystem::path& root, const std::string& layout) {
    std::error_code ec;
    if (has_option(cfg, "subset")) {
      const std::string s = option_str(cfg, "subset", "");
      if (!std::filesystem::is_directory(root / "images" / s, ec))
        layout_error("yolo-seg", "image folder '" + (root / "images" / s).string() + "' not found", layout);
      return s;
    }
    const std::string split = cfg.split == "trn" ? "train" : cfg.split;
    if (!split.empty() && std::filesystem::is_directory(root / "images" / split, ec)) return split;
    const auto subs = sorted_subdirs(root / "images");
    if (subs.size() == 1) return subs[0];
    if (subs.empty()) return {};
    std::string list;
    for (const auto& s : subs) list += (list.empty() ? "" : ", ") + s;
    layout_error("yolo-seg", "several image folders under '" + (root / "images").string() + "' (" + list +
                                 "); choose one with option subset",
                 layout);
  }

  std::vector<std::string> names_;
};

}  // namespace

std::unique_ptr<Dataset> open_yolo_seg(const DatasetConfig& cfg) { return std::make_unique<YoloSeg>(cfg); }

}  // namespace difss::data::detail
