// FSS-1000 as HSNet reads it (juhongm999/hsnet data/fss.py).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "dataset_common.hpp"
#include "difss/data/image_io.hpp"
#include "difss/data/splits.hpp"

namespace difss::data::detail {

std::string fss1000_layout() {
  return R"(  <root>/                          the FSS-1000 folder (or its parent holding FSS-1000/)
    <class_name>/<N>.jpg            images (HSNet: 10 per class, N = 1..10)
    <class_name>/<N>.png            masks: 0/255 (>= 128 is foreground, HSNet's rule) or 0/1
  class lists, either
    split_dir = <HSNet>/data/splits  reads fss/<trn|val|test>.txt (class names; test = 240 classes);
                                     class ids as HSNet: trn 1..520, val 521..760, test 761..1000
    option classes_file = <file>     your own list of class names, one per line
    neither                          every class folder under <root> (the official test split cannot
                                     be derived from the data: give split_dir to reproduce HSNet))";
}

namespace {

class Fss1000 final : public Dataset {
 public:
  explicit Fss1000(const DatasetConfig& cfg) : Dataset(cfg) {
    check_options(cfg, {"classes_file"});
    const std::string layout = fss1000_layout();
    const std::string split = cfg.split == "train" ? "trn" : cfg.split;
    if (split != "trn" && split != "val" && split != "test")
      throw std::invalid_argument("fss1000: split must be trn, val or test, got '" + cfg.split + "'");
    root_ = resolve_root("fss1000", cfg.root, "FSS-1000", "", layout);
    {
      std::error_code ec;  // HSNet's datapath holds FSS-1000/; accept either
      if (std::filesystem::is_directory(root_ / "FSS-1000", ec)) root_ /= "FSS-1000";
    }
    class_set_ = "fss1000";

    std::vector<std::string> names;
    int offset = 0;
    if (!cfg.split_dir.empty() && has_option(cfg, "classes_file"))
      throw std::invalid_argument("fss1000: give either split_dir or option classes_file, not both");
    if (!cfg.split_dir.empty()) {
      const auto file = first_existing({cfg.split_dir / "fss" / (split + ".txt"), cfg.split_dir / (split + ".txt")});
      if (file.empty())
        layout_error("fss1000", "HSNet list '" + (cfg.split_dir / "fss" / (split + ".txt")).string() + "' not found", layout);
      names = read_lines(file);
      offset = split == "val" ? 520 : (split == "test" ? 760 : 0);
      split_source_ = "hsnet list " + file.string();
    } else if (has_option(cfg, "classes_file")) {
      std::filesystem::path file = option_str(cfg, "classes_file", "");
      names = read_lines(file);
      split_source_ = "classes_file " + file.string();
    } else {
      names = sorted_subdirs(root_);
      spdlog::warn("fss1000: no split_dir: using all {} class folders of {} (HSNet's {} split needs split_dir)",
                   names.size(), root_.string(), split);
      split_source_ = "all class folders of " + root_.string();
    }
    std::sort(names.begin(), names.end());  // HSNet: self.categories = sorted(...)
    names.erase(std::unique(names.begin(), names.end()), names.end());

    for (std::size_t k = 0; k < names.size(); ++k) {
      const std::string& name = names[k];
      if (name.find('/') != std::string::npos || name == "." || name == "..")
        throw std::runtime_error("fss1000: class name '" + name + "' is not a plain folder name");
      const int id = offset + static_cast<int>(k) + 1;
      std::string prompt = name;
      std::replace(prompt.begin(), prompt.end(), '_', ' ');
      classes_.push_back({id, name, prompt});
      const auto dir = root_ / name;
      std::error_code ec;
      if (!std::filesystem::is_directory(dir, ec))
        layout_error("fss1000", "class folder '" + dir.string() + "' not found", layout);
      // HSNet: sorted(glob(cat/*)) keeping names whose part after the first '.' is "jpg".
      for (const auto& f : sorted_files(dir)) {
        const auto dot = f.find('.');
        if (dot == std::string::npos || dot == 0) continue;
        const auto dot2 = f.find('.', dot + 1);
        if (f.substr(dot + 1, dot2 == std::string::npos ? std::string::npos : dot2 - dot - 1) != "jpg") continue;
        const std::string stem = f.substr(0, dot);
        samples_.push_back({dir / f, dir / (stem + ".png"), name + "/" + stem, id, {}});
      }
    }
    check_sample_files("fss1000", samples_, layout);
    protocol_ = EpisodeProtocol::sequential;
    default_episodes_ = samples_.size();
    finish();
    spdlog::info("fss1000: {}: {} images, {} classes ({})", split, samples_.size(), classes_.size(), split_source_);
  }

  std::string layout() const override { return fss1000_layout(); }
  int aux_label(int) const override { return 1; }

 protected:
  cv::Mat read_mask(const Sample& s, int class_id, cv::Size) const override {
    cv::Mat m = read_binary_mask(s.mask_path);
    if (class_id != s.class_id) m.setTo(0);  // an FSS image shows its own class only
    return m;
  }

 private:
  std::filesystem::path root_;
};

}  // namespace

std::unique_ptr<Dataset> open_fss1000(const DatasetConfig& cfg) { return std::make_unique<Fss1000>(cfg); }

}  // namespace difss::data::detail
