#include "difss/core/pipeline_dataset.hpp"

#include "difss/core/errors.hpp"

namespace difss {

data::DatasetConfig dataset_config(const Pipeline& p) {
  data::DatasetConfig c;
  const nlohmann::json& d = p.dataset;
  c.kind = d.value("kind", "");
  c.root = d.value("root", "");
  c.fold = int(d.value("fold", 0));
  c.shots = int(d.value("shots", 1));
  c.split = d.value("split", "val");
  c.split_dir = d.value("split_dir", "");
  if (d.contains("options"))
    for (auto& [k, v] : d["options"].items()) c.options[k] = v.is_string() ? v.get<std::string>() : v.dump();
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
