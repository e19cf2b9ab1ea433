// The commands of difss-fss-tool (argv[0] is the command name; results go to stdout; the return
// value is a process exit code).
//
// run_segmenter_bench: episodes per second and peak RSS (VmHWM, reset per configuration) of
//   HSNet-ResNet50 at 400x400 (deterministic weights), the prototype segmenter on the int8
//   MobileNetV2 ONNX (OpenCV dnn) and on ResNet-50 (LibTorch), 1 and 5 shots, synthetic 480x640
//   inputs, with the model library linked directly. Flags: --threads, --episodes, --config,
//   --shots, --onnx, ... (--help).
// run_segmenter_eval: mIoU / FB-IoU (HSNet's definitions) of a segmenter plugin on a dataset's
//   fixed episodes, with the all-foreground / all-background baselines, through the runner's
//   evaluation loop (difss/core/evaluate.hpp). Flags: --segmenter ID, --param k=v, --dataset,
//   --root, --option k=v, --shots, --episodes, --seed, --sampling, --out, --plugin-path (--help).
#pragma once

namespace difss::fss {

int run_segmenter_bench(int argc, char** argv);
int run_segmenter_eval(int argc, char** argv);

}  // namespace difss::fss
