// CyCTR as a complete segmenter on port tensors (what org.difss.segmenter.cyctr wraps), with
// CyCTR's evaluation input handling (PFENet's transform.Resize: the letterbox of pspnet_input.hpp;
// the query's padding mask 255 outside the content, each support's 255 on its ignore pixels and
// the padding) and its prediction at the original size (test.py with ori_resize).
//
// The sparse sampling's random draws:
//  - "episode" (default): a CPU generator seeded, for every call, from the `seed` setting and a
//    64-bit FNV-1a hash of the call's inputs (query, supports and masks: bytes and shapes). The
//    segmenter ABI carries no episode id or run seed, and a per-call counter would make a
//    prediction depend on which process or thread saw which episodes; the hash makes every
//    episode's prediction a function of the episode alone (same inputs, same draws, any order,
//    any number of MPI ranks).
//  - "fidelity": one generator seeded once with `seed` (torch.manual_seed(seed)) and drawn from
//    by the calls in order, exactly as the official model draws from torch's global generator
//    when its forward is called in that order after torch.manual_seed(seed) with nothing else
//    drawing. (The official test.py also lets its DataLoader draw one int64 at each pass over
//    the list; that draw is not the segmenter's to make.)
// The supports enter the network in the order CyCTR's SemData stacks them: the last given first
// (it builds s_x by prepending each shot); this order decides which tokens the draws pick.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <memory>
#include <mutex>
#include <string>

#include <difss/fss/cyctr.hpp>
#include <difss/fss/engines.hpp>

namespace difss::fss {

enum class SamplingMode { episode, fidelity };

struct CyCTRConfig {
  std::string checkpoint;       // official {'epoch', 'state_dict', 'optimizer'} (.pth, "module." or not) or .safetensors
  std::string backbone;         // optional resnet50_v2.pth (PFENet's ImageNet weights) for backbone.body.*
  bool test_weights = false;    // deterministic pseudo-random weights (tests / benchmarks)
  int64_t shots = 1;            // K (the checkpoint's training shot; any K runs, the sample grows with K)
  int64_t image_size = 473;     // 8k + 1 (473 PASCAL; 641 COCO)
  int64_t per_shot = 300;       // sparse sample of each kind per shot (rand_fg_num / rand_bg_num)
  uint64_t seed = 123;          // the sampling seed (test.py's manual_seed: 123)
  SamplingMode sampling = SamplingMode::episode;
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
};

class CyCTREngine final : public SegmenterEngine {
 public:
  CyCTREngine(std::unique_ptr<CyCTR> net, const CyCTRConfig& config);
  // K supports must equal the model's shots. out_h x out_w: the query's size (the image_size
  // output resized to max(out_h, out_w) squared and cropped, as ori_resize) or image_size (the
  // letterboxed output itself). prob = softmax foreground probability; mask = its argmax.
  Segmentation segment_at(const at::Tensor& query, const std::vector<Shot>& shots, int64_t out_h,
                          int64_t out_w) override;
  int64_t input_size() const override { return size_; }
  CyCTR& net() { return *net_; }

 private:
  std::unique_ptr<CyCTR> net_;
  int64_t size_;
  uint64_t seed_;
  SamplingMode mode_;
  at::Generator fidelity_gen_;
  std::mutex fidelity_mutex_;
  at::Device device_;
  at::ScalarType dtype_;
};

// Errors: std::invalid_argument naming the setting or the file and keys.
std::unique_ptr<CyCTREngine> make_cyctr_engine(const CyCTRConfig& config);

// The "episode" mode's seed: FNV-1a 64 of the inputs' shapes and bytes, mixed with `seed`.
uint64_t episode_seed(uint64_t seed, const at::Tensor& query, const std::vector<Shot>& shots);

// A CPU generator as torch.manual_seed(seed) leaves torch's default one.
at::Generator seeded_cpu_generator(uint64_t seed);

}  // namespace difss::fss
