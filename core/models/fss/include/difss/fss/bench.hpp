// The segmenter benchmark and evaluation commands (bench/), for `difss-host bench segmenter` and
// `difss-host eval segmenter` (library difss_fss_bench; standalone: difss-segmenter-tool).
//
// run_segmenter_bench: episodes per second and peak RSS (VmHWM, reset per configuration) of
//   HSNet-ResNet50 at 400x400 (deterministic weights), the prototype segmenter on the int8
//   MobileNetV2 ONNX (OpenCV dnn) and on ResNet-50 (LibTorch), 1 and 5 shots, synthetic 480x640
//   inputs. Flags: --threads, --episodes, --config, --shots, --onnx, ... (--help).
// run_segmenter_eval: mIoU / FB-IoU (HSNet's definitions) of a segmenter on a dataset's fixed
//   episodes, with the all-foreground / all-background baselines. Flags: --dataset, --root,
//   --option k=v, --shots, --episodes, --seed, --sampling, --segmenter, --param k=v, --json.
// argv[0] is the command name; results go to stdout; the return value is a process exit code.
#pragma once

namespace difss::fss {

int run_segmenter_bench(int argc, char** argv);
int run_segmenter_eval(int argc, char** argv);

}  // namespace difss::fss
