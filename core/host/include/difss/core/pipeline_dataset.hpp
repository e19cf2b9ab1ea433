// The dataset a pipeline's [dataset] section describes, for the runner and for the tools that
// read a pipeline's data (difss-host bench --pipeline).
#pragma once

#include <difss/data/dataset.hpp>

#include <memory>

#include "difss/core/pipeline.hpp"

namespace difss {

data::DatasetConfig dataset_config(const Pipeline& p);

// Opens it; a dataset that cannot be opened is a ConfigError naming the [dataset] section.
std::unique_ptr<data::Dataset> open_pipeline_dataset(const Pipeline& p);

}  // namespace difss
