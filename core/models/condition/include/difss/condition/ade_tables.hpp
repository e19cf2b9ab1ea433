// ADE20K classes and palette, and ControlNet4FSS's class -> ADE mappers (PASCAL, COCO,
// FSS-1000), compiled in from the shared reference facts (see src/ade_tables.inc).
//
// Class numbering (as difss datasets number classes, see core/data dataset.hpp):
//   pascal   1..20  VOC label values (0 = background)
//   coco     1..80  COCO label values in the contiguous order 1 person .. 80 toothbrush
//                   (ControlNet4FSS constant.py coco_mapper keys; HSNet/Ultralytics id + 1)
//   fss1000  by class NAME (folder name, e.g. "eiffel_tower"): the order of FSS-1000 ids differs
//            between HSNet (trn, val, test) and ControlNet4FSS (trn, test, val), names do not.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace difss::condition::ade {

inline constexpr int kClassCount = 150;  // ADE indices 0..149; the palette has one colour each

using Rgb = std::array<uint8_t, 3>;

// Palette colour of an ADE index (0 = wall = (120, 120, 120), the background colour of
// ControlNet4FSS's seg maps). Throws std::out_of_range outside 0..149.
Rgb palette(int ade_index);
// mmseg's ADE class name ("wall", "building", ...). Throws outside 0..149.
const char* class_name(int ade_index);
// ADE index of an mmseg ADE class name (case-insensitive, trimmed), or -1.
int index_of_class_name(const std::string& name);

// ControlNet4FSS constant.py pascal_mapper: label value 0..20 -> ADE index; -1 outside.
int pascal_to_ade(int pascal_id);
// ControlNet4FSS constant.py coco_mapper: label value 0..80 -> ADE index; -1 outside.
int coco_to_ade(int coco_id);

inline constexpr int kFssClassCount = 1000;
// FSS-1000 class i (0-based, ControlNet4FSS list/fss1k_all.txt order) name and ADE index
// (list/fss2ade.txt). Throw outside 0..999.
const char* fss1000_name(int i);
int fss1000_to_ade(int i);
// Index in ControlNet4FSS order of an FSS-1000 class name; case-insensitive, spaces and
// underscores equivalent ("Assult Rifle" == "assult_rifle"); -1 when unknown.
int fss1000_index_of(const std::string& name);

// A stable colour choice for names no table knows: 1 + FNV-1a-32(normalised name) % 149, never 0
// (0 is the background colour).
int hashed_index(const std::string& name);

}  // namespace difss::condition::ade
