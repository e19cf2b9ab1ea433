// Training-free few-shot segmentation by feature matching (no learned parameters beyond an
// ImageNet backbone): the support masks select foreground and background features, the query's
// features are compared with them by cosine similarity at one or more layers.
//
//   matching = prototype  masked average pooling (PANet-style): one foreground and one
//                          background prototype per layer and shot
//   matching = nearest    every query feature is compared with every support feature; its
//                          foreground / background similarity is the best match among the
//                          support's foreground / background features
//   refine                 optional self-support rounds (see PrototypeOptions::refine)
//   matching = hybrid     foreground by prototype, background by nearest support feature (the
//                          background is multi-modal: one mean vector describes it badly)
//   fusion (prototype matching, K shots): mean = prototypes averaged over the shots;
//                          max = per query pixel, the best shot
//   score  = mean over layers of (s_fg - s_bg), each layer's map resized bilinearly to the output
//   rule   fg_vs_bg:  mask = score > 0 (the pixel is closer to the foreground: parameter-free)
//          otsu:      mask = s_fg > Otsu threshold of the s_fg histogram of this query
//          threshold: mask = s_fg > a given cosine threshold
//   prob   = sigmoid(temperature * (score - rule's threshold)) (temperature 20 as PANet's scaling),
//            so that mask == (prob > 0.5).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <difss/fss/backbone.hpp>

namespace difss::fss {

// Anything that maps a normalised image batch to feature maps.
class FeatureExtractor {
 public:
  virtual ~FeatureExtractor() = default;
  // images: float32 [N, 3, H, W], normalised -> per layer a float32 [N, C, h, w].
  virtual std::vector<at::Tensor> extract(const at::Tensor& images) = 0;
  virtual std::vector<std::string> layers() const = 0;
};

// A LibTorch backbone's named taps (Backbone::tap_names()).
std::unique_ptr<FeatureExtractor> make_backbone_extractor(std::shared_ptr<Backbone> backbone,
                                                          std::vector<std::string> layers);

struct PrototypeOptions {
  enum class Matching { prototype, nearest, hybrid };
  enum class Fusion { mean, max };
  enum class Rule { fg_vs_bg, otsu, threshold };
  Matching matching = Matching::prototype;
  Fusion fusion = Fusion::mean;
  Rule rule = Rule::fg_vs_bg;
  double threshold = 0.5;     // Rule::threshold, on s_fg (cosine)
  double temperature = 20.0;  // prob = sigmoid(temperature * margin)
  // Self-support refinement rounds (prototype matching; after Fan et al., "Self-Support
  // Few-Shot Segmentation", ECCV 2022): the query's own predicted foreground/background features
  // are pooled and mixed into the prototypes, fg = 0.5 support + 0.5 query, bg = 0.3 support +
  // 0.7 query (unit vectors), and the query is matched again. 0 = off.
  int refine = 0;
};

struct PrototypeResult {
  at::Tensor prob;   // float32 [H, W]
  at::Tensor mask;   // uint8 [H, W], 0/1
  at::Tensor s_fg;   // float32 [H, W], layer-averaged foreground similarity
  at::Tensor score;  // float32 [H, W], layer-averaged s_fg - s_bg
};

// query_feats: per layer [1, C, h, w]; support_feats: per layer [K, C, h, w];
// fg, valid: float32 [K, H, W] support masks at the support images' model size (valid = 0 for
// ignored pixels). Output at out_size. shot_weights (empty or K values > 0): mean fusion takes
// the weighted mean of the shots' prototypes (difss's aux weighting); empty or all 1 = the mean.
PrototypeResult match_features(const std::vector<at::Tensor>& query_feats,
                               const std::vector<at::Tensor>& support_feats, const at::Tensor& fg,
                               const at::Tensor& valid, std::array<int64_t, 2> out_size,
                               const PrototypeOptions& options, const std::vector<double>& shot_weights = {});

// Otsu's threshold of the values of x (256 bins between its min and max).
double otsu_threshold(const at::Tensor& x);

}  // namespace difss::fss
