// The `synthetic` dataset's object families and its drawing function (used by the dataset kind
// and by the training code of the embedded tiny models, apps/difss-tiny-tool).
//
// 20 classes = 5 shapes x 4 patterns, each with a fixed two-colour palette (10 palettes, each
// shared by two classes of different shape and pattern, so colour alone does not identify a
// class). Folds like PASCAL-5i: fold k's novel classes are 5k+1 .. 5k+5 (one of each shape),
// its base classes the other 15. Every image: a background (two-colour gradient, pixel noise,
// thin clutter strokes), distractor objects of other classes, and the target object drawn last
// with a random rotation, scale and position; its mask is exact (the same raster as the pixels).
//
// A second world, `varied` (option world = "varied"), has intra-class variety: class = one of 20
// shape families (circle, square, ..., horseshoe; fold k novel = 5k+1..5k+5 again, fold 0's are
// the classic five shapes), and each instance takes one of its class's 3 appearance modes (hue +
// texture, with jitter), a random lighting ramp and colour cast, and one of 3 background kinds,
// so one support shows the appearance of about a third of its class's queries.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace difss::data {

enum class SyntheticWorld { classic = 0, varied = 1 };
// "classic" | "varied"; throws std::invalid_argument naming the choices for anything else.
SyntheticWorld synthetic_world(const std::string& name);
const char* synthetic_world_name(SyntheticWorld world);

struct SyntheticClass {
  int id = 0;           // 1..20
  std::string name;     // "striped-circle"
  int shape = 0;        // 0 circle, 1 square, 2 triangle, 3 star, 4 cross
  int pattern = 0;      // 0 stripes, 1 checker, 2 dots, 3 gradient (varied world: -1, per instance)
  int palette = 0;      // 0..9 (varied world: -1, per instance)
};

inline constexpr int kSyntheticClasses = 20;
inline constexpr int kSyntheticFolds = 4;

const std::vector<SyntheticClass>& synthetic_classes();  // ids 1..20 in order (classic world)
const std::vector<SyntheticClass>& synthetic_classes(SyntheticWorld world);
// Class ids of a split: "trn" = base classes of `fold` (15), "val"/"test" = novel classes of
// `fold` (5), "all" = all 20. Throws std::invalid_argument for another split or fold.
std::vector<int> synthetic_split_classes(const std::string& split, int fold);

// Which instance stream a split draws from: training splits ("trn", "all") and evaluation
// splits ("val", "test") never share an image.
enum class SyntheticStream : std::uint64_t { evaluation = 0, training = 1 };
SyntheticStream synthetic_stream(const std::string& split);

struct SyntheticDrawOptions {
  int size = 64;            // image side in pixels
  std::uint64_t seed = 0;
  int distractors = 2;      // at most this many objects of other classes (0..4)
  SyntheticWorld world = SyntheticWorld::classic;
};

// Image n of class `class_id` in `stream`: RGB uint8 [size, size, 3] and mask uint8 0/1 (either
// pointer may be null). Deterministic in (world, seed, stream, class_id, n, size, distractors).
void draw_synthetic(int class_id, SyntheticStream stream, std::uint64_t n, const SyntheticDrawOptions& options,
                    cv::Mat* rgb, cv::Mat* mask);

// A simple colour segmentation by the family's palette: 1 where a pixel is saturated (HSV S >
// 0.45, V > 0.25) with a hue within 20 degrees of the palette's hue range of `class_id` (0: any
// saturated pixel). Backgrounds and clutter are never that saturated, so on a real image this
// finds the target plus distractors that share its palette. Used to measure whether generated
// images follow their control masks. In the varied world colours are per instance: use class 0
// (objects are saturated, backgrounds and clutter are not).
cv::Mat synthetic_palette_mask(const cv::Mat& rgb, int class_id);

}  // namespace difss::data
