// Class-name tables (facts: PASCAL VOC devkit, COCO 2014 categories in contiguous order,
// ControlNet4FSS constant.py prompt names).
#include "difss/data/class_names.hpp"

namespace difss::data {

const std::vector<std::string>& voc_class_names() {
  static const std::vector<std::string> names = {
      "aeroplane", "bicycle", "bird",  "boat",        "bottle", "bus",         "car",
      "cat",       "chair",   "cow",   "diningtable", "dog",    "horse",       "motorbike",
      "person",    "pottedplant", "sheep", "sofa",    "train",  "tvmonitor"};
  return names;
}

const std::vector<std::string>& voc_prompt_names() {
  static const std::vector<std::string> names = {
      "airplane", "bicycle", "bird",  "boat",         "bottle", "bus",          "car",
      "cat",      "chair",   "cow",   "dining table", "dog",    "horse",        "motorbike",
      "person",   "potted plant", "sheep", "sofa",    "train",  "television"};
  return names;
}

const std::vector<std::string>& coco_class_names() {
  static const std::vector<std::string> names = {
      "person",        "bicycle",      "car",           "motorcycle",    "airplane",
      "bus",           "train",        "truck",         "boat",          "traffic light",
      "fire hydrant",  "stop sign",    "parking meter", "bench",         "bird",
      "cat",           "dog",          "horse",         "sheep",         "cow",
      "elephant",      "bear",         "zebra",         "giraffe",       "backpack",
      "umbrella",      "handbag",      "tie",           "suitcase",      "frisbee",
      "skis",          "snowboard",    "sports ball",   "kite",          "baseball bat",
      "baseball glove", "skateboard",  "surfboard",     "tennis racket", "bottle",
      "wine glass",    "cup",          "fork",          "knife",         "spoon",
      "bowl",          "banana",       "apple",         "sandwich",      "orange",
      "broccoli",      "carrot",       "hot dog",       "pizza",         "donut",
      "cake",          "chair",        "couch",         "potted plant",  "bed",
      "dining table",  "toilet",       "tv",            "laptop",        "mouse",
      "remote",        "keyboard",     "cell phone",    "microwave",     "oven",
      "toaster",       "sink",         "refrigerator",  "book",          "clock",
      "vase",          "scissors",     "teddy bear",    "hair drier",    "toothbrush"};
  return names;
}

const std::vector<std::string>& coco_prompt_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n = coco_class_names();
    n[64] = "computer mouse";     // class 65
    n[65] = "remote controller";  // class 66
    return n;
  }();
  return names;
}

}  // namespace difss::data
