// Internal: finding the images of the `folder` reader and their masks.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace difss::data::detail {

struct FoundImage {
  std::filesystem::path image, mask;  // mask empty: none found
  std::string folder;                 // image folder relative to the image tree ("" at its top)
  std::string stem;
};

struct MaskNaming {
  std::vector<std::string> image_exts;  // lower case, with the dot
  std::vector<std::string> mask_exts;   // in the order tried
  std::string mask_suffix;              // "<stem><suffix>.<ext>" (parallel trees)
};

// Images directly in `dir` (today's layout): the mask of <stem> is the first existing of
// masks/<stem>.<ext>, <stem>_mask.<ext>, <stem>.<ext> (ext other than the image's), for each mask
// extension in order. A file with a mask extension whose stem is also an image of another
// extension is that image's mask, not an image; "<x>_mask" files are never images.
std::vector<FoundImage> scan_class_dir(const std::filesystem::path& dir, const MaskNaming& naming);
// The mask candidates scan_class_dir tries for one image (for error messages).
std::vector<std::filesystem::path> class_dir_mask_candidates(const std::filesystem::path& image,
                                                             const MaskNaming& naming);

// Parallel trees: every image under `image_root` at any depth (hidden entries skipped), sorted by
// relative path; the mask of <rel dir>/<stem>.<ext> is mask_root/<rel dir>/<stem><suffix>.<mask ext>
// for the first mask extension that exists (also tried in upper case). The two trees may be one
// folder (masks next to their images, e.g. <class>/<video>/x.jpg + x.png, or x_mask.png with
// mask_suffix): a file that is some image's mask is not an image.
std::vector<FoundImage> scan_trees(const std::filesystem::path& image_root, const std::filesystem::path& mask_root,
                                   const MaskNaming& naming);

}  // namespace difss::data::detail
