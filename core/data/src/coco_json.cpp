// `coco-json`: COCO-style JSON annotations (what most annotation tools export) + an image folder.
// Polygons and RLE (counts list or compressed string) are drawn as pycocotools' annToMask does;
// the objects of one class in an image are merged into the class's mask.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "coco_rle.hpp"
#include "dataset_common.hpp"
#include "difss/data/class_names.hpp"
#include "difss/data/image_io.hpp"
#include "grouping.hpp"

namespace difss::data::detail {

std::string coco_json_layout() {
  return R"(  <root>/<annotations>            COCO JSON: "images" (id, file_name, height, width),
                                  "categories" (id, name), "annotations" (image_id, category_id,
                                  segmentation, iscrowd, area)
  <root>/<images>/<file_name>     the images (option images; default <root>/images if it exists,
                                  else <root>); e.g. root = COCO2014, annotations =
                                  "annotations/instances_val2014.json", images = "val2014"
  segmentation: polygons [[x0, y0, x1, y1, ...], ...] or RLE {"size": [h, w], "counts": [...] or
  "compressed string"}; all objects of a class in an image form the class's mask.
  class ids: 1..N in category-id order (class_ids = contiguous; official COCO: 1..80 as coco20i) or
  the category_id itself (class_ids = category_id).
  options: annotations (required), images, crowd = ignore|include|skip (default ignore: crowd regions
           are 255), class_ids, min_area, min_images (default shots + 1), classes (subset of names),
           group_regex, query_order = shuffle|sequential (default shuffle), mask_resize = error|nearest)";
}

namespace {

enum class Crowd { ignore, include, skip };

struct Object {
  int class_id = 0;
  bool crowd = false;
  long long id = 0;
  nlohmann::json segmentation;
};

struct Image {
  std::filesystem::path path;
  int height = 0, width = 0;
  std::vector<Object> objects;
};

class CocoJson final : public Dataset {
 public:
  explicit CocoJson(const DatasetConfig& cfg) : Dataset(cfg) {
    std::vector<std::string> known = {"annotations", "images",      "crowd",       "class_ids", "min_area",
                                      "min_images",  "classes",     "query_order", "mask_resize"};
    for (const auto& g : GroupRule::option_names()) known.push_back(g);
    check_options(cfg, known);
    const std::string layout = coco_json_layout();
    const auto root = resolve_root("coco-json", cfg.root, "", "", layout);
    if (!has_option(cfg, "annotations")) layout_error("coco-json", "option annotations (the JSON file) is required", layout);
    file_ = option_path(cfg, "annotations", root);
    std::error_code ec;
    std::filesystem::path image_dir = has_option(cfg, "images") ? root / option_str(cfg, "images", "")
                                      : std::filesystem::is_directory(root / "images", ec) ? root / "images"
                                                                                          : root;
    if (!std::filesystem::is_directory(image_dir, ec))
      layout_error("coco-json", "image folder '" + image_dir.string() + "' not found", layout);
    const std::string crowd = option_str(cfg, "crowd", "ignore");
    if (crowd != "ignore" && crowd != "include" && crowd != "skip")
      throw std::invalid_argument("coco-json: option crowd must be ignore, include or skip, got '" + crowd + "'");
    crowd_ = crowd == "ignore" ? Crowd::ignore : (crowd == "include" ? Crowd::include : Crowd::skip);
    const std::string ids = option_str(cfg, "class_ids", "contiguous");
    if (ids != "contiguous" && ids != "category_id")
      throw std::invalid_argument("coco-json: option class_ids must be contiguous or category_id, got '" + ids + "'");
    const long long min_images = option_int(cfg, "min_images", cfg.shots + 1, 1, 1'000'000);
    const long long min_area = option_int(cfg, "min_area", 0, 0, kMaxImagePixels);
    const GroupRule groups(cfg, /*folder_allowed=*/false);
    mask_resize_ = mask_resize_option(cfg);
    offers_mask_resize_ = offers_query_order_ = true;

    const nlohmann::json doc = read_json(file_);
    const std::map<long long, ClassInfo> categories = read_categories(doc, ids == "category_id");
    read_images(doc, image_dir);
    // Per image and class: the summed area of the objects that make the class present.
    std::map<long long, std::map<int, double>> present;
    read_annotations(doc, categories, present);

    std::set<std::string> wanted;
    for (const auto& item : option_list(cfg, "classes", {})) {
      const bool known_name = std::any_of(categories.begin(), categories.end(),
                                          [&](const auto& c) { return c.second.name == item; });
      if (!known_name) throw std::invalid_argument("coco-json: option classes names '" + item + "', not a category of " + file_.string());
      wanted.insert(item);
    }
    // Images in file-name order; one sample per (image, present class).
    std::vector<std::pair<std::string, long long>> order;
    for (const auto& [id, im] : images_) order.emplace_back(im.path.generic_string(), id);
    std::sort(order.begin(), order.end());
    std::map<int, std::vector<Sample>> by_class;
    for (const auto& [path, image_id] : order) {
      const auto it = present.find(image_id);
      if (it == present.end()) continue;
      const Image& im = images_.at(image_id);
      std::string name = im.path.lexically_relative(image_dir).replace_extension().generic_string();
      const std::string group = groups.group_of(name, "");
      for (const auto& [cls, area] : it->second)
        if (area >= static_cast<double>(min_area)) by_class[cls].push_back({im.path, file_, name, cls, group});
    }
    for (const auto& [cat_id, info] : categories) {
      auto& items = by_class[info.id];
      if (!wanted.empty() && !wanted.count(info.name)) continue;
      if (static_cast<long long>(items.size()) < min_images) {
        if (!items.empty())
          spdlog::info("coco-json: class '{}' has {} image(s), fewer than {}: not evaluated", info.name, items.size(), min_images);
        continue;
      }
      classes_.push_back(info);
      for (auto& s : items) samples_.push_back(std::move(s));
    }
    if (classes_.empty())
      layout_error("coco-json", "no category of '" + file_.string() + "' has at least " + std::to_string(min_images) +
                                    " annotated images",
                   layout);
    set_class_set(categories, ids == "category_id");
    split_source_ = "annotations " + file_.string();
    protocol_ = query_order_option(cfg, EpisodeProtocol::shuffled);
    finish();
    spdlog::info("coco-json: {} images, {} image-class pairs, {} classes", images_.size(), samples_.size(), classes_.size());
  }

  std::string layout() const override { return coco_json_layout(); }

 protected:
  cv::Size read_mask_size(const Sample& s) const override {  // drawn at the JSON's size
    const Image& im = images_.at(image_of_path_.at(s.image_path.string()));
    return {im.width, im.height};
  }
  cv::Mat read_mask(const Sample& s, int class_id, cv::Size) const override {
    const Image& im = images_.at(image_of_path_.at(s.image_path.string()));
    cv::Mat mask = cv::Mat::zeros(im.height, im.width, CV_8UC1);
    // Crowd regions first, so that an object drawn over one stays foreground.
    for (int pass = 0; pass < 2; ++pass)
      for (const auto& o : im.objects) {
        if (o.class_id != class_id || o.crowd != (pass == 0)) continue;
        if (o.crowd && crowd_ == Crowd::skip) continue;
        const std::uint8_t value = o.crowd && crowd_ == Crowd::ignore ? 255 : 1;
        try {
          paint_object(mask, o.segmentation, value);
        } catch (const std::exception& e) {
          throw std::runtime_error("coco-json: " + file_.string() + ": annotation " + std::to_string(o.id) + " of image '" +
                                   im.path.string() + "': " + e.what());
        }
      }
    return mask;
  }

 private:
  static nlohmann::json read_json(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("coco-json: cannot open annotation file '" + file.string() + "'");
    nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object())
      throw std::runtime_error("coco-json: '" + file.string() + "' is not a JSON object (parse error)");
    for (const char* key : {"images", "annotations", "categories"})
      if (!doc.contains(key) || !doc[key].is_array())
        throw std::runtime_error("coco-json: '" + file.string() + "' has no \"" + key + "\" array");
    return doc;
  }

  // category id -> class (id: contiguous 1..N in category-id order, or the category id).
  std::map<long long, ClassInfo> read_categories(const nlohmann::json& doc, bool keep_ids) const {
    std::map<long long, std::string> names;
    for (const auto& c : doc["categories"]) {
      const long long id = field<long long>(c, "id", "category");
      if (!names.emplace(id, field<std::string>(c, "name", "category")).second)
        throw std::runtime_error("coco-json: " + file_.string() + ": category id " + std::to_string(id) + " twice");
    }
    std::map<long long, ClassInfo> out;
    int next = 0;
    for (const auto& [id, name] : names) {
      const long long cls = keep_ids ? id : ++next;
      if (cls < 1 || cls > 1'000'000)
        throw std::runtime_error("coco-json: " + file_.string() + ": category id " + std::to_string(id) +
                                 " cannot be a class id (class_ids = category_id needs ids >= 1)");
      std::string prompt = name;
      std::replace(prompt.begin(), prompt.end(), '_', ' ');
      out[id] = {static_cast<int>(cls), name, prompt};
    }
    return out;
  }

  void read_images(const nlohmann::json& doc, const std::filesystem::path& image_dir) {
    for (const auto& j : doc["images"]) {
      const long long id = field<long long>(j, "id", "image");
      Image im;
      im.path = image_dir / field<std::string>(j, "file_name", "image");
      im.height = field<int>(j, "height", "image");
      im.width = field<int>(j, "width", "image");
      if (im.height < 1 || im.width < 1 || static_cast<long long>(im.height) * im.width > kMaxImagePixels)
        throw std::runtime_error("coco-json: " + file_.string() + ": image " + std::to_string(id) + " has an invalid size");
      image_of_path_[im.path.string()] = id;
      if (!images_.emplace(id, std::move(im)).second)
        throw std::runtime_error("coco-json: " + file_.string() + ": image id " + std::to_string(id) + " twice");
    }
  }

  void read_annotations(const nlohmann::json& doc, const std::map<long long, ClassInfo>& categories,
                        std::map<long long, std::map<int, double>>& present) {
    for (const auto& a : doc["annotations"]) {
      Object o;
      o.id = a.contains("id") && a["id"].is_number_integer() ? a["id"].get<long long>() : -1;
      const long long image_id = field<long long>(a, "image_id", "annotation");
      const long long cat = field<long long>(a, "category_id", "annotation");
      const auto im = images_.find(image_id);
      const auto c = categories.find(cat);
      const std::string what = file_.string() + ": annotation " + std::to_string(o.id);
      if (im == images_.end()) throw std::runtime_error("coco-json: " + what + " names unknown image " + std::to_string(image_id));
      if (c == categories.end()) throw std::runtime_error("coco-json: " + what + " names unknown category " + std::to_string(cat));
      if (!a.contains("segmentation")) throw std::runtime_error("coco-json: " + what + " has no segmentation");
      o.class_id = c->second.id;
      o.crowd = a.value("iscrowd", 0) != 0;
      o.segmentation = a["segmentation"];
      check_segmentation(o.segmentation, im->second, what);
      if (!o.crowd || crowd_ == Crowd::include) present[image_id][o.class_id] += a.value("area", 0.0);
      if (!o.crowd || crowd_ != Crowd::skip) im->second.objects.push_back(std::move(o));
    }
  }

  static void check_segmentation(const nlohmann::json& seg, const Image& im, const std::string& what) {
    if (seg.is_array()) {
      for (const auto& poly : seg)
        if (!poly.is_array() || poly.size() < 4 || poly.size() % 2 != 0)
          throw std::runtime_error("coco-json: " + what + ": a polygon must be a list of an even number (>= 4) of coordinates");
      return;
    }
    if (!seg.is_object() || !seg.contains("counts") || !seg.contains("size"))
      throw std::runtime_error("coco-json: " + what + ": segmentation must be polygons or RLE {\"size\", \"counts\"}");
    const auto& size = seg["size"];
    if (!size.is_array() || size.size() != 2 || size[0] != im.height || size[1] != im.width)
      throw std::runtime_error("coco-json: " + what + ": RLE size " + size.dump() + " differs from the image's [" +
                               std::to_string(im.height) + ", " + std::to_string(im.width) + "] (height, width)");
  }

  static void paint_object(cv::Mat& mask, const nlohmann::json& seg, std::uint8_t value) {
    if (seg.is_array()) {
      for (const auto& poly : seg) paint_rle(mask, rle_from_polygon(poly.get<std::vector<double>>(), mask.rows, mask.cols), value);
      return;
    }
    const auto& counts = seg["counts"];
    paint_rle(mask, counts.is_string() ? rle_from_string(counts.get<std::string>()) : counts.get<RleCounts>(), value);
  }

  template <typename T>
  T field(const nlohmann::json& j, const char* key, const char* what) const {
    try {
      return j.at(key).get<T>();
    } catch (const nlohmann::json::exception&) {
      throw std::runtime_error("coco-json: " + file_.string() + ": a " + what + " entry lacks a valid \"" + key +
                               "\": " + j.dump().substr(0, 120));
    }
  }

  // "coco" when the categories are COCO's 80 (so ids and prompt names are those of coco20i).
  void set_class_set(const std::map<long long, ClassInfo>& categories, bool keep_ids) {
    if (keep_ids || categories.size() != coco_class_names().size()) return;
    std::size_t k = 0;
    for (const auto& [id, info] : categories)
      if (info.name != coco_class_names()[k++]) return;
    class_set_ = "coco";
    for (auto& c : classes_) c.prompt_name = coco_prompt_names()[static_cast<std::size_t>(c.id - 1)];
  }

  std::filesystem::path file_;
  Crowd crowd_ = Crowd::ignore;
  std::map<long long, Image> images_;
  std::unordered_map<std::string, long long> image_of_path_;  // image path -> image id
};

}  // namespace

std::unique_ptr<Dataset> open_coco_json(const DatasetConfig& cfg) { return std::make_unique<CocoJson>(cfg); }

}  // namespace difss::data::detail
