// The embedded tiny few-shot segmenter: HSNet (difss_fss, the same code as the hsnet plugin)
// on a narrow ResNet backbone (basic blocks, width 16, blocks {1, 2, 2, 1}) trained end to end
// and episodically by difss on the base classes of the `synthetic` dataset.
// Shared by the plugin (org.difss.segmenter.tiny-fss) and the trainer (apps/difss-tiny-tool).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include <difss/fss/engines.hpp>
#include <difss/fss/hsnet.hpp>

namespace difss::tiny {

// safetensors metadata key holding TinyFssConfig as JSON.
inline const char* const kMetaFssConfig = "difss.tiny.fss.config";

struct TinyFssConfig {
  int64_t width = 16;                  // stem / stage-1 channels (stages double it)
  std::array<int, 4> layers{1, 2, 2, 1};
  int64_t image_size = 64;             // model input side (HSNet's pyramid must stay aligned)
  int fold = 0;                        // the synthetic fold it was trained on (information)
  std::string to_json() const;
  static TinyFssConfig from_json(const std::string& text);  // throws std::invalid_argument
};

std::unique_ptr<fss::HSNet> make_tiny_hsnet(const TinyFssConfig& config);

// Training initialisation: He-normal convolutions, BatchNorm as identity (running mean 0,
// variance 1, scale 1, shift 0; the second BatchNorm of every residual block scale 0 so that
// blocks start as their shortcut), HSNet learner like PyTorch's default conv init; seeded.
void init_tiny_hsnet(fss::HSNet& net, uint64_t seed);

struct TinyFss {
  TinyFssConfig config;
  std::unique_ptr<fss::HSNetEngine> engine;
};

// Loads a checkpoint written by the trainer; throws std::runtime_error naming the file.
TinyFss load_tiny_fss(const std::string& path);

}  // namespace difss::tiny
