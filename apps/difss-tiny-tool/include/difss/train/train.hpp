// Training of the embedded tiny models on the `synthetic` dataset (LibTorch, CPU).
//
//   difss-tiny-tool train diffusion [--seed 0] [--steps N] [--out DIR] ...   tiny ControlNet sampler
//   difss-tiny-tool train fss       [--seed 0] [--steps N] [--out DIR] ...   tiny HSNet segmenter
//
// Each run is deterministic for its seed (fixed data order, per-step generators; the host runs
// it single-threaded by default so float reductions are ordered the same way) and writes
// <out>/<name>.safetensors and <out>/manifest.json (command, seed, split, steps, losses,
// evaluation numbers, a short "reproducibility check" run, the difss git commit when known).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace difss::tiny {
struct TinyDiffusion;
}

namespace difss::train {

// The arguments after "train" (argv[0] is the model: "diffusion" or "fss").
// Returns a process exit code (0 ok, 2 bad arguments, 1 failure); prints errors to stderr.
int run_train(int argc, char** argv);

struct LossLog {
  std::vector<double> loss;  // per step
  double mean_last(int n) const;
};

struct DiffusionTrainOptions {
  std::uint64_t seed = 0;
  int steps = 4000;
  int batch = 8;
  double lr = 1e-3;
  int warmup = 100;
  double class_dropout = 0.1;  // probability of the null class (classifier-free guidance)
  int size = 64;
  int threads = 1;             // intra-op threads (1: bit-reproducible on one machine)
  std::string out;             // folder for the checkpoint and manifest; empty: nothing written
  int eval_supports = 24;      // evaluation: mask-following IoU of generated images
  std::string world = "classic";  // the synthetic world trained on (classic | varied)
  std::function<void(int step, double loss)> on_step;  // progress (optional)
};

struct DiffusionTrainResult {
  LossLog log;
  double final_loss = 0;       // mean loss of the last 50 steps
  double mask_iou = 0;         // mean IoU(support mask, colour-segmentation of generated image)
  double real_mask_iou = 0;    // the same measure on the real support images (the reference)
  // Appearance diversity (varied world): mean pairwise total-variation distance between the
  // object-colour histograms (4x4x4 RGB bins inside the mask) of 4 samples for one support, and
  // of 4 real images of the same class; averaged over the evaluation supports.
  double sample_spread = 0, real_spread = 0;
  double seconds = 0;
};

DiffusionTrainResult train_diffusion(const DiffusionTrainOptions& options);

// The trainer's evaluation of a generator on `supports` evaluation-stream supports of every
// class (seg-palette control, DDIM 20 steps, guidance 2): mask-following IoU of generated and of
// real images, and (varied world) the appearance spread of 4 samples vs 4 real images.
struct DiffusionEvaluation {
  double mask_iou = 0, real_mask_iou = 0, sample_spread = 0, real_spread = 0;
};
DiffusionEvaluation evaluate_diffusion(const tiny::TinyDiffusion& model, const std::string& world, int supports,
                                       std::uint64_t seed);

struct FssTrainOptions {
  std::uint64_t seed = 0;
  int fold = 0;
  int steps = 800;
  int batch = 8;
  double lr = 1e-3;
  int warmup = 100;
  int size = 64;               // model input side
  int threads = 1;
  std::string out;
  int eval_episodes = 200;     // 1-shot episodes on the fold's novel classes (evaluation stream)
  std::vector<std::string> plugin_paths;  // searched first for the tiny-fss plugin the evaluation runs
  std::string world = "classic";          // the synthetic world trained and evaluated on
  std::function<void(int step, double loss)> on_step;
};

struct FssTrainResult {
  LossLog log;
  double final_loss = 0;
  double novel_miou = 0, novel_fbiou = 0;  // 1-shot, fold's novel classes
  double base_miou = 0;                    // 1-shot, base classes (evaluation stream)
  double seconds = 0;
};

FssTrainResult train_fss(const FssTrainOptions& options);

// 1-shot evaluation of a checkpoint on the fold's novel classes by the host's runner (the
// tiny-fss plugin in a pipeline over synthetic split val with images_per_class =
// ceil(episodes / 5), so every class gets episodes / 5 queries; episode seed 0; HSNet's mIoU /
// FB-IoU), plus base classes (evaluation images drawn directly, seed 0). The plugin is found on
// `plugin_paths`, then the host's usual search path.
struct FssEvaluation {
  double novel_miou = 0, novel_fbiou = 0, base_miou = 0;
  std::vector<double> novel_per_class;  // foreground IoU per novel class, by id
};
FssEvaluation evaluate_fss_checkpoint(const std::string& checkpoint, int fold, int episodes,
                                      const std::vector<std::string>& plugin_paths = {},
                                      const std::string& world = "classic");

// `difss-tiny-tool diagnose`: why auxiliary supports help the tiny segmenter or not (diagnose.cpp):
// appearance sensitivity of the segmenter, a generated image vs another real image as the
// support, and how close generated vs other real images come to the query's colours. Prints JSON.
struct DiagnoseOptions {
  std::string segmenter, generator;  // checkpoints
  std::string world = "varied";
  int fold = 0, episodes = 150;
  std::uint64_t seed = 0;
};
int run_diagnose(const DiagnoseOptions& options);

// The difss git commit of the source tree (DIFSS_SOURCE_DIR/.git), or "" when unknown.
std::string source_commit();

}  // namespace difss::train
