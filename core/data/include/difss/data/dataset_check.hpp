// Cheap checks of a dataset's files before anything heavy runs (for `difss-host validate` and
// `dataset inspect`): every image and mask readable, and of one size.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace difss::data {

class Dataset;

struct FileProblem {
  std::string file;  // the image or mask at fault
  std::string what;  // e.g. "mask is 24x16 but its image '...' is 48x32 (width x height)"
};

struct DatasetCheck {
  std::size_t images = 0;         // distinct (image, mask) pairs checked
  std::size_t problem_count = 0;  // all problems found (problems holds the first max_problems)
  std::vector<FileProblem> problems;
};

// Called after each pair with (done, total), e.g. for a progress bar.
using CheckProgress = std::function<void(std::size_t done, std::size_t total)>;

// For every distinct (image, mask) of dataset.samples(): both sizes are read — from the file
// headers for PNG and JPEG, so no pixel is decoded — and must be equal unless the dataset resizes
// masks (mask_resize = "nearest"). Unreadable files are problems, not exceptions.
DatasetCheck check_dataset_files(const Dataset& dataset, const CheckProgress& progress = {},
                                 std::size_t max_problems = 100);

}  // namespace difss::data
