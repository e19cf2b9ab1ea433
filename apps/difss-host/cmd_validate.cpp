// `difss-host validate FILE`: parse, resolve plugins, check parameters and ports, then open the
// dataset and check that every image has a readable mask of a usable size (sizes from the file
// headers where the format has them; `--no-data` skips this). Loads no weights, writes nothing.
#include <difss/core/errors.hpp>
#include <difss/core/pipeline.hpp>
#include <difss/core/pipeline_dataset.hpp>
#include <difss/core/progress.hpp>
#include <difss/data/dataset_check.hpp>

#include <iostream>
#include <memory>

#include "commands.hpp"

namespace difss::cli {

namespace {

// Every image/mask pair of the dataset readable and of one size; each problem is printed with
// its file. Returns false when there is any.
bool check_dataset(const Pipeline& p, const std::string& file) {
  std::unique_ptr<data::Dataset> ds = open_pipeline_dataset(p);  // a ConfigError names file:line
  std::unique_ptr<Progress> bar;
  std::size_t shown = 0;
  const data::DatasetCheck c =
      data::check_dataset_files(*ds, [&](std::size_t done, std::size_t total) {
        if (!bar) bar = std::make_unique<Progress>("checking dataset files", total);
        bar->advance(done - shown);
        shown = done;
      });
  if (bar) bar->finish();
  for (const auto& problem : c.problems) std::cerr << problem.file << ": " << problem.what << "\n";
  if (c.problem_count > 0) {
    std::cerr << file << ": [dataset] " << ds->kind() << ": " << c.problem_count
              << " problem(s) in the dataset's files";
    if (c.problem_count > c.problems.size()) std::cerr << " (the first " << c.problems.size() << " shown)";
    std::cerr << "\n";
    return false;
  }
  std::cout << file << ": dataset " << ds->kind() << ": " << ds->classes().size() << " classes, "
            << ds->samples().size() << " image-class pairs, " << c.images
            << " image/mask files checked\n";
  return true;
}

}  // namespace

int validate(const Registry& reg, const std::string& file, bool check_data) {
  try {
    Pipeline p = parse_pipeline(file);
    resolve_plugins(p, reg);
    if (check_data && !check_dataset(p, file)) return kExitConfig;
    std::cout << file << ": OK\n" << p.resolved_json().dump(2) << "\n";
    return kExitOk;
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    return kExitConfig;
  }
}

int print_pipeline_keys() {
  std::cout << pipeline_keys_markdown();
  return kExitOk;
}

}  // namespace difss::cli
