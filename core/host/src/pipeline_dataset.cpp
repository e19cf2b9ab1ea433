#include "difss/core/pipeline_dataset.hpp"

#include "difss/core/errors.hpp"

namespace difss {

data::DatasetConfig dataset_config(const Pipeline& p) {
  const DatasetSection& d = p.dataset;
  data::DatasetConfig c;
  c.kind = d.kind;
  c.root = d.root;
  c.fold = d.fold;
  c.shots = d.shots;
  c.split = d.split;
  c.split_dir = d.split_dir;
  for (auto& [k, v] : d.options.items()) c.options[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return c;
}

std::unique_ptr<data::Dataset> open_pipeline_dataset(const Pipeline& p) {
  try {
    return data::open_dataset(dataset_config(p));
  } catch (const std::exception& e) {
    throw ConfigError(p.where("dataset", "kind") + ": [dataset]: " + e.what());
  }
}

}  // namespace difss
