// Class-name tables of the benchmarks. Index i holds class i+1 (the label value in the masks).
#pragma once

#include <string>
#include <vector>

namespace difss::data {

// The 20 PASCAL VOC names as the devkit spells them (aeroplane ... tvmonitor).
const std::vector<std::string>& voc_class_names();
// The 20 names ControlNet4FSS (constant.py pascal_name) puts in its prompts (airplane ... television).
const std::vector<std::string>& voc_prompt_names();
// The 80 COCO names in the contiguous order of HSNet's label PNGs and Ultralytics (person ... toothbrush).
const std::vector<std::string>& coco_class_names();
// The 80 names of ControlNet4FSS constant.py coco_name (differs at 65 "computer mouse", 66 "remote controller").
const std::vector<std::string>& coco_prompt_names();

}  // namespace difss::data
