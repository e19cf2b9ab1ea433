#include "seg_palette.hpp"

#include <difss/condition/ade_tables.hpp>
#include <difss/condition/controlnet_util.hpp>
#include <difss/sdk/tensor_opencv.hpp>

namespace difss::plugins {

namespace ade = condition::ade;

sdk::Descriptor SegPaletteCondition::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.condition.seg-palette";
  d.name = "ADE20K palette segmentation map";
  d.description =
      "The support mask painted in the ADE20K palette colour of the class's ADE class (ControlNet4FSS "
      "FSSpregenerate.py seg_control with its PASCAL / COCO / FSS-1000 mappers), background (120, 120, 120); "
      "resized like ControlNet's resize_image (short side `resolution`, sides multiples of 64, nearest).";
  d.version = "1.0.0";
  d.param(sdk::ParamDef::integer("resolution", 512, 0, 2048,
                                 "Short side of the control map (ControlNet4FSS image_resolution); 0 = keep the support's size."));
  d.param(sdk::ParamDef::boolean(
      "official_bugs", false,
      "Reproduce FSSpregenerate.py exactly: every FSS-1000 class gets the colour of class index 1 (taxi -> "
      "truck), and COCO classes above 20 are refused (the script makes no control for them)."));
  d.param(sdk::ParamDef::integer("coco_id_base", 1, 0, 1,
                                 "Numbering of COCO class ids: 1 = label values 1 person .. 80 toothbrush (difss "
                                 "datasets, ControlNet4FSS); 0 = 0 person .. 79 (HSNet / Ultralytics ids)."));
  d.param(sdk::ParamDef::integer("palette_index", -1, -1, ade::kClassCount - 1,
                                 "Paint the foreground with this ADE index whatever the class (-1 = map the class)."));
  d.param(sdk::ParamDef::enumeration(
      "unknown_class", {"hash", "error"}, "hash",
      "Class the tables do not know (a custom class set, an FSS name outside FSS-1000): hash = ADE class of "
      "that name if there is one, else 1 + FNV-1a(name) % 149; error = refuse."));
  d.input("image", "image", "Support image (only its size is used).");
  d.input("mask", "mask", "Support mask: 1 = the class, 0 = background, 255 = ignore (painted as background).");
  d.output("control", "image", "Segmentation map, RGB ADE palette colours.");
  return d;
}

SegPaletteCondition::SegPaletteCondition(const sdk::Host& host, const sdk::Params& p)
    : host_(host),
      resolution_(int(p.integer("resolution"))),
      official_bugs_(p.boolean("official_bugs")),
      coco_id_base_(int(p.integer("coco_id_base"))),
      palette_index_(int(p.integer("palette_index"))),
      hash_unknown_(p.string("unknown_class") == "hash") {}

int SegPaletteCondition::ade_index_for(int class_id, const std::string& class_name,
                                       const std::string& class_set) const {
  auto fail = [&](difss_status st, const std::string& why) -> int {
    throw sdk::Error(st, "seg-palette: class " + std::to_string(class_id) + " '" + class_name + "' of set '" +
                             class_set + "': " + why);
  };
  if (palette_index_ >= 0) return palette_index_;
  if (class_set == "pascal") {
    if (class_id < 1 || class_id > 20) fail(DIFSS_ERR_INVALID_ARGUMENT, "PASCAL class ids are 1..20");
    return ade::pascal_to_ade(class_id);
  }
  if (class_set == "coco") {
    int label = class_id + (1 - coco_id_base_);  // the 1-based label value of constant.py
    if (label < 1 || label > 80)
      fail(DIFSS_ERR_INVALID_ARGUMENT, coco_id_base_ == 1 ? "COCO class ids are 1..80 (coco_id_base = 1)"
                                                          : "COCO class ids are 0..79 (coco_id_base = 0)");
    if (official_bugs_ && label > 20)
      fail(DIFSS_SKIP,  // declined, not failed: the host counts it and goes on
           "with official_bugs = true, FSSpregenerate.py skips COCO label values above 20 "
           "(`if fg_cls not in list(range(0,21)): continue`) and makes no control; set official_bugs = false");
    return ade::coco_to_ade(label);
  }
  if (class_set == "fss1000") {
    // Officially the mask is binarised to 0/1 and category_mapper[1] (taxi -> truck) is used for all.
    if (official_bugs_) return ade::fss1000_to_ade(1);
    int i = ade::fss1000_index_of(class_name);
    if (i >= 0) return ade::fss1000_to_ade(i);
    if (!hash_unknown_) fail(DIFSS_ERR_INVALID_ARGUMENT, "not an FSS-1000 class name (unknown_class = error)");
    host_.debug("seg-palette: '" + class_name + "' is not an FSS-1000 class; colour from its name");
    return ade::hashed_index(class_name);
  }
  if (!hash_unknown_)
    fail(DIFSS_ERR_INVALID_ARGUMENT, "no ADE mapper for this class set (use palette_index or unknown_class = hash)");
  if (class_name.empty()) fail(DIFSS_ERR_INVALID_ARGUMENT, "no class name to derive a colour from");
  int i = ade::index_of_class_name(class_name);
  return i > 0 ? i : ade::hashed_index(class_name);
}

sdk::OwnedTensor SegPaletteCondition::generate(const sdk::ConditionInput& in, sdk::Call&) {
  sdk::require_port(in.image, "image", "image");
  sdk::require_port(in.mask, "mask", "mask");
  const int index = ade_index_for(in.class_id, in.class_name, in.class_set);
  const cv::Size out = condition::resize_image_size(cv::Size(int(in.image.shape[1]), int(in.image.shape[0])),
                                                    resolution_);
  // palette[(mask == fg) * mapper[fg]] resized nearest == the resized mask painted afterwards.
  cv::Mat fg = condition::foreground01(condition::resize_nearest(sdk::as_mat(in.mask), out));
  const auto bg = ade::palette(0), fc = ade::palette(index);
  cv::Mat rgb(out, CV_8UC3, cv::Scalar(bg[0], bg[1], bg[2]));
  rgb.setTo(cv::Scalar(fc[0], fc[1], fc[2]), fg);
  return sdk::to_owned(rgb);
}

}  // namespace difss::plugins
