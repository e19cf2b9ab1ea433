// Internal helpers shared by the dataset readers.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "difss/data/dataset.hpp"

namespace difss::data::detail {

// Rejects option keys outside `known`, naming the kind and listing the known keys.
void check_options(const DatasetConfig& cfg, const std::vector<std::string>& known);
std::string option_str(const DatasetConfig& cfg, const std::string& key, const std::string& def);
long long option_int(const DatasetConfig& cfg, const std::string& key, long long def, long long lo,
                     long long hi);
bool has_option(const DatasetConfig& cfg, const std::string& key);
// A list option: a JSON array (what a TOML array arrives as) or a comma-separated string;
// items trimmed, empty items dropped.
std::vector<std::string> option_list(const DatasetConfig& cfg, const std::string& key,
                                     const std::vector<std::string>& def);
// A file option: relative paths are taken relative to `root` when that file exists, else as given.
std::filesystem::path option_path(const DatasetConfig& cfg, const std::string& key, const std::filesystem::path& root);
// Options shared by the readers that offer them: query_order = shuffle | sequential,
// mask_resize = error | nearest.
EpisodeProtocol query_order_option(const DatasetConfig& cfg, EpisodeProtocol def);
MaskResize mask_resize_option(const DatasetConfig& cfg);

// "<kind>: <what>\nExpected layout:\n<layout>" as std::runtime_error.
[[noreturn]] void layout_error(const std::string& kind, const std::string& what, const std::string& layout);

// Checks that every sample's image and mask exist; throws with a count, examples and the layout.
void check_sample_files(const std::string& kind, const std::vector<Sample>& samples,
                        const std::string& layout);

// Root resolution: `root` itself when it holds `probe`, else root/<alt> when that holds it.
std::filesystem::path resolve_root(const std::string& kind, const std::filesystem::path& root,
                                   const std::string& alt, const std::string& probe,
                                   const std::string& layout);

// First existing file among candidates, or empty.
std::filesystem::path first_existing(const std::vector<std::filesystem::path>& candidates);

bool is_image_extension(const std::string& ext_lower);
std::string lower(std::string s);
// Sorted (byte order, as Python's sorted()) names of the sub-folders / regular files of `dir`.
std::vector<std::string> sorted_subdirs(const std::filesystem::path& dir);
std::vector<std::string> sorted_files(const std::filesystem::path& dir);

std::unique_ptr<Dataset> open_pascal5i(const DatasetConfig& cfg);
std::unique_ptr<Dataset> open_coco20i(const DatasetConfig& cfg);
std::unique_ptr<Dataset> open_fss1000(const DatasetConfig& cfg);
std::unique_ptr<Dataset> open_folder(const DatasetConfig& cfg);
std::unique_ptr<Dataset> open_yolo_seg(const DatasetConfig& cfg);
std::unique_ptr<Dataset> open_synthetic(const DatasetConfig& cfg);
std::unique_ptr<Dataset> open_coco_json(const DatasetConfig& cfg);

std::string pascal5i_layout();
std::string coco20i_layout();
std::string fss1000_layout();
std::string folder_layout();
std::string yolo_seg_layout();
std::string synthetic_layout();
std::string coco_json_layout();

}  // namespace difss::data::detail
