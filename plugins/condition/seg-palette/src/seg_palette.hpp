// The "seg" guidance of ControlNet4FSS (FSSpregenerate.py seg_control): the support mask painted
// with the ADE20K palette colour of the class's ADE class, background ADE colour 0.
#pragma once

#include <difss/sdk/plugin.hpp>

#include <string>

namespace difss::plugins {

class SegPaletteCondition : public sdk::Condition {
 public:
  static sdk::Descriptor describe();
  SegPaletteCondition(const sdk::Host& host, const sdk::Params& params);
  sdk::OwnedTensor generate(const sdk::ConditionInput& in, sdk::Call& call) override;

  // The ADE index painted for a class (the rules of README.md); throws sdk::Error when the class
  // cannot be mapped (or, with official_bugs, when the official script makes no control for it).
  int ade_index_for(int class_id, const std::string& class_name, const std::string& class_set) const;

 private:
  sdk::Host host_;
  int resolution_;
  bool official_bugs_;
  int coco_id_base_;
  int palette_index_;
  bool hash_unknown_;
};

}  // namespace difss::plugins
