// Header-level checks of a dataset's files; see dataset_check.hpp.
#include "difss/data/dataset_check.hpp"

#include <set>
#include <sstream>
#include <utility>

#include "difss/data/dataset.hpp"

namespace difss::data {

DatasetCheck check_dataset_files(const Dataset& ds, const CheckProgress& progress, std::size_t max_problems) {
  DatasetCheck out;
  auto problem = [&](const std::filesystem::path& file, const std::string& what) {
    if (out.problems.size() < max_problems) out.problems.push_back({file.string(), what});
    ++out.problem_count;
  };
  // One check per (image, mask): an image listed for several classes is read once.
  std::vector<std::size_t> todo;
  std::set<std::pair<std::string, std::string>> seen;
  for (std::size_t i = 0; i < ds.samples().size(); ++i) {
    const Sample& s = ds.samples()[i];
    if (seen.emplace(s.image_path.string(), s.mask_path.string()).second) todo.push_back(i);
  }
  for (std::size_t k = 0; k < todo.size(); ++k) {
    const Sample& s = ds.samples()[todo[k]];
    cv::Size image, mask;
    try {
      image = ds.image_size(todo[k]);
    } catch (const std::exception& e) {
      problem(s.image_path, std::string("image unreadable: ") + e.what());
    }
    try {
      mask = ds.mask_size(todo[k]);
    } catch (const std::exception& e) {
      problem(s.mask_path, std::string("mask unreadable: ") + e.what());
    }
    if (!image.empty() && !mask.empty() && image != mask && ds.mask_resize() != MaskResize::nearest) {
      std::ostringstream os;
      os << "mask is " << mask.width << "x" << mask.height << " but its image '" << s.image_path.string() << "' is "
         << image.width << "x" << image.height << " (width x height)";
      problem(s.mask_path, os.str());
    }
    ++out.images;
    if (progress) progress(k + 1, todo.size());
  }
  return out;
}

}  // namespace difss::data
