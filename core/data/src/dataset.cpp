// Dataset base class, option helpers and the kind registry.
#include "difss/data/dataset.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "dataset_common.hpp"
#include "difss/data/image_io.hpp"

namespace difss::data {

// ---------------------------------------------------------------------------------------------
// Dataset
Dataset::Dataset(DatasetConfig config) : config_(std::move(config)) {}
Dataset::~Dataset() = default;

void Dataset::finish() {
  class_index_.clear();
  by_class_.clear();
  for (std::size_t k = 0; k < classes_.size(); ++k) {
    if (!class_index_.emplace(classes_[k].id, k).second)
      throw std::logic_error(kind() + ": duplicate class id " + std::to_string(classes_[k].id));
    by_class_[classes_[k].id];
  }
  for (std::size_t i = 0; i < samples_.size(); ++i) {
    const auto it = by_class_.find(samples_[i].class_id);
    if (it == by_class_.end())
      throw std::runtime_error(kind() + ": sample '" + samples_[i].name + "' has class " +
                               std::to_string(samples_[i].class_id) + ", which is not a class of this split/fold");
    it->second.push_back(i);
  }
  if (samples_.empty())
    detail::layout_error(kind(), "no image-class pairs found under '" + config_.root.string() + "'", layout());
  if (default_episodes_ == 0) default_episodes_ = samples_.size();
}

std::vector<int> Dataset::class_ids() const {
  std::vector<int> ids;
  for (const auto& c : classes_) ids.push_back(c.id);
  return ids;
}

bool Dataset::has_class(int class_id) const { return class_index_.count(class_id) != 0; }

const ClassInfo& Dataset::class_info(int class_id) const {
  const auto it = class_index_.find(class_id);
  if (it == class_index_.end())
    throw std::out_of_range(kind() + ": class " + std::to_string(class_id) + " is not a class of this split/fold");
  return classes_[it->second];
}

const std::vector<std::size_t>& Dataset::samples_of_class(int class_id) const {
  const auto it = by_class_.find(class_id);
  if (it == by_class_.end())
    throw std::out_of_range(kind() + ": class " + std::to_string(class_id) + " is not a class of this split/fold");
  return it->second;
}

const Sample& Dataset::sample_at(std::size_t i) const {
  if (i >= samples_.size())
    throw std::out_of_range(kind() + ": sample index " + std::to_string(i) + " out of range (" +
                            std::to_string(samples_.size()) + " samples)");
  return samples_[i];
}

cv::Mat Dataset::read_image(const Sample& s) const { return read_image_rgb(s.image_path); }
cv::Size Dataset::read_image_size(const Sample& s) const { return data::read_image_size(s.image_path); }

cv::Mat Dataset::load_image(std::size_t i) const { return read_image(sample_at(i)); }
cv::Size Dataset::image_size(std::size_t i) const { return read_image_size(sample_at(i)); }
cv::Size Dataset::read_mask_size(const Sample& s) const { return data::read_image_size(s.mask_path); }
cv::Size Dataset::mask_size(std::size_t i) const { return read_mask_size(sample_at(i)); }

cv::Mat Dataset::load_mask(std::size_t i, int class_id) const {
  const Sample& s = sample_at(i);
  const cv::Size isz = read_image_size(s);
  cv::Mat m = read_mask(s, class_id, isz);
  if (m.size() == isz) return m;
  if (mask_resize_ == MaskResize::nearest) return resize_nearest(m, isz);
  std::ostringstream os;
  os << kind() << ": mask '" << s.mask_path.string() << "' is " << m.cols << "x" << m.rows << " but its image '"
     << s.image_path.string() << "' is " << isz.width << "x" << isz.height << " (width x height); they must match";
  if (offers_mask_resize_) os << " (or set [dataset] options.mask_resize = \"nearest\" to resize the masks)";
  throw std::runtime_error(os.str());
}

int Dataset::aux_label(int class_id) const { return class_id; }

nlohmann::json Dataset::describe() const {
  nlohmann::json j;
  j["kind"] = kind();
  j["root"] = config_.root.string();
  j["fold"] = config_.fold;
  j["split"] = config_.split;
  j["shots"] = config_.shots;
  j["class_set"] = class_set_;
  j["split_source"] = split_source_;
  j["samples"] = samples_.size();
  j["episode_protocol"] = protocol_ == EpisodeProtocol::sequential
                              ? "sequential"
                              : (protocol_ == EpisodeProtocol::shuffled ? "shuffled" : "class_uniform");
  if (const std::size_t g = group_count()) j["groups"] = g;
  j["default_episodes"] = default_episodes_;
  auto& cl = j["classes"] = nlohmann::json::array();
  for (const auto& c : classes_)
    cl.push_back({{"id", c.id}, {"name", c.name}, {"prompt_name", c.prompt_name},
                  {"samples", samples_of_class(c.id).size()}});
  if (!config_.options.empty()) j["options"] = config_.options;
  return j;
}

std::size_t Dataset::group_count() const {
  std::set<std::string> groups;
  for (const auto& s : samples_)
    if (!s.group.empty()) groups.insert(s.group);
  return groups.size();
}

std::string Dataset::coverage_advice() const {
  const std::string n_classes = std::to_string(classes_.size());
  switch (protocol_) {
    case EpisodeProtocol::shuffled:
      return "raise [dataset] episodes to at least " + n_classes + " (one per class)";
    case EpisodeProtocol::class_uniform:
      return "raise [dataset] episodes (each episode draws its class at random among " + n_classes + ")";
    case EpisodeProtocol::sequential:
      break;
  }
  std::string advice = "raise [dataset] episodes to " + std::to_string(samples_.size()) +
                       " (queries are taken in list order; that many covers every sample)";
  if (offers_query_order_) advice += " or set [dataset] options.query_order = \"shuffle\"";
  return advice;
}

// ---------------------------------------------------------------------------------------------
// Helpers
namespace detail {

void check_options(const DatasetConfig& cfg, const std::vector<std::string>& known) {
  for (const auto& [k, v] : cfg.options) {
    if (std::find(known.begin(), known.end(), k) != known.end()) continue;
    std::string list;
    for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
    throw std::invalid_argument("dataset kind '" + cfg.kind + "' has no option '" + k + "' (known options: " +
                                (list.empty() ? "none" : list) + ")");
  }
}

bool has_option(const DatasetConfig& cfg, const std::string& key) { return cfg.options.count(key) != 0; }

std::string option_str(const DatasetConfig& cfg, const std::string& key, const std::string& def) {
  const auto it = cfg.options.find(key);
  return it == cfg.options.end() ? def : it->second;
}

long long option_int(const DatasetConfig& cfg, const std::string& key, long long def, long long lo,
                     long long hi) {
  const auto it = cfg.options.find(key);
  if (it == cfg.options.end()) return def;
  long long v = 0;
  std::size_t used = 0;
  try {
    v = std::stoll(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != it->second.size())
    throw std::invalid_argument("dataset option '" + key + "' of kind '" + cfg.kind + "' must be an integer, got '" +
                                it->second + "'");
  if (v < lo || v > hi)
    throw std::invalid_argument("dataset option '" + key + "' of kind '" + cfg.kind + "' must be in [" +
                                std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(v));
  return v;
}

std::vector<std::string> option_list(const DatasetConfig& cfg, const std::string& key,
                                     const std::vector<std::string>& def) {
  const auto it = cfg.options.find(key);
  if (it == cfg.options.end()) return def;
  std::vector<std::string> raw;
  const std::string& v = it->second;
  if (!v.empty() && v.front() == '[') {
    const auto j = nlohmann::json::parse(v, nullptr, /*allow_exceptions=*/false);
    if (!j.is_array())
      throw std::invalid_argument("dataset option '" + key + "' of kind '" + cfg.kind + "' is not a valid list: " + v);
    for (const auto& e : j) raw.push_back(e.is_string() ? e.get<std::string>() : e.dump());
  } else {
    std::stringstream ss(v);
    for (std::string item; std::getline(ss, item, ',');) raw.push_back(item);
  }
  std::vector<std::string> out;
  for (auto& item : raw) {
    const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

std::filesystem::path option_path(const DatasetConfig& cfg, const std::string& key, const std::filesystem::path& root) {
  const std::filesystem::path p = option_str(cfg, key, "");
  std::error_code ec;
  if (p.is_relative() && std::filesystem::exists(root / p, ec)) return root / p;
  return p;
}

EpisodeProtocol query_order_option(const DatasetConfig& cfg, EpisodeProtocol def) {
  const std::string v = option_str(cfg, "query_order", "");
  if (v.empty()) return def;
  if (v == "shuffle") return EpisodeProtocol::shuffled;
  if (v == "sequential") return EpisodeProtocol::sequential;
  throw std::invalid_argument("dataset option 'query_order' of kind '" + cfg.kind +
                              "' must be \"shuffle\" or \"sequential\", got '" + v + "'");
}

MaskResize mask_resize_option(const DatasetConfig& cfg) {
  const std::string v = option_str(cfg, "mask_resize", "error");
  if (v == "error") return MaskResize::error;
  if (v == "nearest") return MaskResize::nearest;
  throw std::invalid_argument("dataset option 'mask_resize' of kind '" + cfg.kind +
                              "' must be \"error\" or \"nearest\", got '" + v + "'");
}

void layout_error(const std::string& kind, const std::string& what, const std::string& layout) {
  throw std::runtime_error(kind + ": " + what + "\nExpected layout:\n" + layout);
}

void check_sample_files(const std::string& kind, const std::vector<Sample>& samples, const std::string& layout) {
  std::vector<std::string> missing;
  std::size_t count = 0;
  std::error_code ec;
  auto check = [&](const std::filesystem::path& p) {
    if (p.empty() || std::filesystem::is_regular_file(p, ec)) return;
    ++count;
    if (missing.size() < 3) missing.push_back(p.string());
  };
  std::string last_image;
  for (const auto& s : samples) {
    if (s.image_path.string() == last_image) continue;  // consecutive pairs of one image
    last_image = s.image_path.string();
    check(s.image_path);
    check(s.mask_path);
  }
  if (count == 0) return;
  std::string ex;
  for (const auto& m : missing) ex += "\n  " + m;
  layout_error(kind, std::to_string(count) + " file(s) named by the split list are missing, e.g.:" + ex, layout);
}

std::filesystem::path resolve_root(const std::string& kind, const std::filesystem::path& root, const std::string& alt,
                                   const std::string& probe, const std::string& layout) {
  std::error_code ec;
  if (root.empty()) layout_error(kind, "no dataset root given", layout);
  if (!std::filesystem::is_directory(root, ec))
    layout_error(kind, "dataset root '" + root.string() + "' does not exist or is not a folder", layout);
  if (probe.empty() || std::filesystem::exists(root / probe, ec)) return root;
  if (!alt.empty() && std::filesystem::exists(root / alt / probe, ec)) return root / alt;
  layout_error(kind, "'" + (root / probe).string() + "' not found" +
                         (alt.empty() ? std::string() : " (nor '" + (root / alt / probe).string() + "')"),
               layout);
}

std::filesystem::path first_existing(const std::vector<std::filesystem::path>& candidates) {
  std::error_code ec;
  for (const auto& c : candidates)
    if (std::filesystem::is_regular_file(c, ec)) return c;
  return {};
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_image_extension(const std::string& e) {
  return e == ".jpg" || e == ".jpeg" || e == ".png" || e == ".bmp" || e == ".tif" || e == ".tiff" ||
         e == ".webp";
}

namespace {
std::vector<std::string> list_dir(const std::filesystem::path& dir, bool want_dirs) {
  std::vector<std::string> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ec2;
    const bool is_dir = it->is_directory(ec2);
    if (want_dirs ? is_dir : (!is_dir && it->is_regular_file(ec2))) out.push_back(it->path().filename().string());
  }
  if (ec) throw std::runtime_error("cannot list folder '" + dir.string() + "': " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

std::vector<std::string> sorted_subdirs(const std::filesystem::path& dir) { return list_dir(dir, true); }
std::vector<std::string> sorted_files(const std::filesystem::path& dir) { return list_dir(dir, false); }

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Registry
namespace {

struct Registry {
  std::mutex mu;
  std::vector<std::pair<DatasetKindInfo, DatasetFactory>> kinds;
};

Registry& registry() {
  static Registry r;
  static const bool filled = [] {
    Registry& x = r;
    using namespace detail;
    x.kinds.push_back({{"pascal5i", "PASCAL-5i: VOC2012 JPEGImages + SegmentationClassAug, HSNet folds", pascal5i_layout()},
                       open_pascal5i});
    x.kinds.push_back({{"coco20i", "COCO-20i: COCO 2014 + HSNet label PNGs, interleaved folds", coco20i_layout()},
                       open_coco20i});
    x.kinds.push_back({{"fss1000", "FSS-1000: class folders of N.jpg + N.png", fss1000_layout()}, open_fss1000});
    x.kinds.push_back({{"folder", "your own classes: class folders, flat NAME_NN files (PerSAM), parallel image/mask trees",
                        folder_layout()},
                       open_folder});
    x.kinds.push_back({{"yolo-seg", "images + YOLO polygon labels (Ultralytics layout)", yolo_seg_layout()},
                       open_yolo_seg});
    x.kinds.push_back({{"coco-json", "COCO JSON annotations (polygons, RLE, iscrowd) + an image folder",
                        coco_json_layout()},
                       open_coco_json});
    x.kinds.push_back({{"synthetic", "procedurally drawn shapes with exact masks (no files)", synthetic_layout()},
                       open_synthetic});
    return true;
  }();
  (void)filled;
  return r;
}

}  // namespace

std::vector<DatasetKindInfo> dataset_kinds() {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<DatasetKindInfo> out;
  for (const auto& k : r.kinds) out.push_back(k.first);
  return out;
}

void register_dataset_kind(DatasetKindInfo info, DatasetFactory factory) {
  if (info.kind.empty() || !factory) throw std::invalid_argument("register_dataset_kind: empty kind or factory");
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (auto& k : r.kinds)
    if (k.first.kind == info.kind) {
      k = {std::move(info), std::move(factory)};
      return;
    }
  r.kinds.emplace_back(std::move(info), std::move(factory));
}

std::unique_ptr<Dataset> open_dataset(const DatasetConfig& config) {
  DatasetFactory factory;
  std::string known;
  {
    auto& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    for (const auto& k : r.kinds) {
      known += (known.empty() ? "" : ", ") + k.first.kind;
      if (k.first.kind == config.kind) factory = k.second;
    }
  }
  if (!factory)
    throw std::invalid_argument("unknown dataset kind '" + config.kind + "' (known kinds: " + known + ")");
  if (config.shots < 1 || config.shots > 1000)
    throw std::invalid_argument("dataset '" + config.kind + "': shots must be in [1, 1000], got " +
                                std::to_string(config.shots));
  return factory(config);
}

}  // namespace difss::data
