// `difss-host dataset inspect FILE`: what the pipeline's dataset holds, before anything heavy runs:
// classes with their images, groups and foreground fraction (decoded masks, with a progress bar),
// and warnings for classes too small for the requested shots or for cross-group supports.
#include <difss/core/errors.hpp>
#include <difss/core/pipeline.hpp>
#include <difss/core/pipeline_dataset.hpp>
#include <difss/core/progress.hpp>

#include <opencv2/core.hpp>

#include <cstdio>
#include <iostream>
#include <map>
#include <set>

#include "commands.hpp"

namespace difss::cli {

namespace {

struct ClassStats {
  std::string name;
  size_t images = 0;
  std::set<std::string> groups;
  double fg_sum = 0;  // sum over images of the foreground share of the non-ignored pixels
  size_t unreadable = 0;
};

}  // namespace

int dataset_inspect(const std::string& file) {
  try {
    const Pipeline p = parse_pipeline(file);
    std::unique_ptr<data::Dataset> ds = open_pipeline_dataset(p);
    std::map<int, ClassStats> stats;
    for (const auto& c : ds->classes()) stats[c.id].name = c.name;
    const auto& samples = ds->samples();
    Progress bar("reading masks", samples.size());
    for (size_t i = 0; i < samples.size(); ++i) {
      ClassStats& s = stats[samples[i].class_id];
      ++s.images;
      if (!samples[i].group.empty()) s.groups.insert(samples[i].group);
      try {
        const cv::Mat m = ds->load_mask(i);
        const double valid = double(m.total()) - double(cv::countNonZero(m == 255));
        if (valid > 0) s.fg_sum += double(cv::countNonZero(m == 1)) / valid;
      } catch (const std::exception&) {
        ++s.unreadable;  // `validate` names the file and the reason
      }
      bar.advance(1);
    }
    bar.finish();

    const int shots = p.dataset.shots;
    const bool cross_group = p.dataset.support_sampling.rfind("cross_group", 0) == 0;
    std::printf("%s: dataset %s (%s), %zu classes, %zu image-class pairs\n\n", file.c_str(),
                ds->kind().c_str(), ds->split_source().c_str(), ds->classes().size(), samples.size());
    std::printf("%-28s %8s %8s %12s\n", "class", "images", "groups", "foreground");
    std::vector<std::string> warnings;
    for (const auto& [id, s] : stats) {
      const size_t read = s.images - s.unreadable;
      std::printf("%-28s %8zu %8zu %11.1f%%\n", s.name.c_str(), s.images, s.groups.size(),
                  read ? 100.0 * s.fg_sum / double(read) : 0.0);
      if (s.images < size_t(shots) + 1)
        warnings.push_back("class '" + s.name + "' has " + std::to_string(s.images) +
                           " image(s); " + std::to_string(shots) + "-shot episodes need " +
                           std::to_string(shots + 1) + " (the query and its supports)");
      if (cross_group && s.groups.size() < 2)
        warnings.push_back("class '" + s.name + "' has " + std::to_string(s.groups.size()) +
                           " group(s); support_sampling = \"" + p.dataset.support_sampling +
                           "\" needs supports from another group than the query's");
      if (s.unreadable)
        warnings.push_back("class '" + s.name + "': " + std::to_string(s.unreadable) +
                           " mask(s) could not be read (`difss-host validate` names them)");
    }
    for (const auto& w : warnings) std::printf("warning: %s\n", w.c_str());
    return kExitOk;
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    return kExitConfig;
  }
}

}  // namespace difss::cli
