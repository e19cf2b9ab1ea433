// Images and masks of the `folder` reader; see folder_scan.hpp.
#include "folder_scan.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "dataset_common.hpp"

namespace difss::data::detail {
namespace {

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::vector<std::filesystem::path> class_dir_mask_candidates(const std::filesystem::path& image,
                                                             const MaskNaming& naming) {
  const auto dir = image.parent_path();
  const std::string stem = image.stem().string();
  const std::string e = lower(image.extension().string());
  std::vector<std::filesystem::path> cands;
  for (const auto& m : naming.mask_exts) cands.push_back(dir / "masks" / (stem + m));
  for (const auto& m : naming.mask_exts) cands.push_back(dir / (stem + "_mask" + m));
  for (const auto& m : naming.mask_exts)
    if (m != e) cands.push_back(dir / (stem + m));
  return cands;
}

std::vector<FoundImage> scan_class_dir(const std::filesystem::path& dir, const MaskNaming& naming) {
  const auto files = sorted_files(dir);
  // Stems of images whose extension is not a mask extension: a mask-extension file of the same
  // stem is their mask (FSS-1000's N.jpg + N.png).
  std::set<std::string> other_stems;
  for (const auto& f : files) {
    const std::filesystem::path p(f);
    const auto e = lower(p.extension().string());
    if (contains(naming.image_exts, e) && !contains(naming.mask_exts, e)) other_stems.insert(p.stem().string());
  }
  std::vector<FoundImage> out;
  for (const auto& f : files) {
    const std::filesystem::path p(f);
    const auto e = lower(p.extension().string());
    const std::string stem = p.stem().string();
    if (!contains(naming.image_exts, e) || ends_with(stem, "_mask") || f[0] == '.') continue;
    if (contains(naming.mask_exts, e) && other_stems.count(stem)) continue;  // the mask of <stem>.jpg
    out.push_back({dir / f, first_existing(class_dir_mask_candidates(dir / f, naming)), "", stem});
  }
  return out;
}

std::vector<FoundImage> scan_trees(const std::filesystem::path& image_root, const std::filesystem::path& mask_root,
                                   const MaskNaming& naming) {
  std::vector<FoundImage> out;
  std::error_code ec;
  namespace fs = std::filesystem;
  for (fs::recursive_directory_iterator it(image_root, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    const std::string fname = it->path().filename().string();
    std::error_code ec2;
    if (!fname.empty() && fname[0] == '.') {
      if (it->is_directory(ec2)) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec2) || !contains(naming.image_exts, lower(it->path().extension().string()))) continue;
    const fs::path rel = it->path().lexically_relative(image_root);
    FoundImage f;
    f.image = it->path();
    f.folder = rel.parent_path().generic_string();
    f.stem = rel.stem().string();
    const fs::path mask_dir = mask_root / rel.parent_path();
    std::vector<fs::path> cands;
    for (const auto& m : naming.mask_exts)
      for (const auto& ext : {m, upper(m)}) {
        const fs::path c = mask_dir / (f.stem + naming.mask_suffix + ext);
        if (c != f.image) cands.push_back(c);  // one tree for both: an image is not its own mask
      }
    f.mask = first_existing(cands);
    out.push_back(std::move(f));
  }
  if (ec) throw std::runtime_error("folder: cannot list '" + image_root.string() + "': " + ec.message());
  // Masks next to their images (images = masks): a file that is another image's mask is no image.
  std::set<fs::path> masks;
  for (const auto& f : out)
    if (!f.mask.empty()) masks.insert(f.mask);
  out.erase(std::remove_if(out.begin(), out.end(), [&](const FoundImage& f) { return masks.count(f.image) != 0; }),
            out.end());
  std::sort(out.begin(), out.end(), [](const FoundImage& a, const FoundImage& b) {
    return a.image.generic_string() < b.image.generic_string();
  });
  return out;
}

}  // namespace difss::data::detail
