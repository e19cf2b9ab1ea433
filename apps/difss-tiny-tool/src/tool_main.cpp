// difss-tiny-tool: the embedded default's tiny models (core/models/tiny).
//   difss-tiny-tool train diffusion|fss [options]   train, write the checkpoint and its manifest
//   difss-tiny-tool diagnose SEG GEN [N]            why aux supports help or not (varied world)
// (`difss-tiny-tool train --help` lists the options; `train fss --evaluate FILE` evaluates a checkpoint.)
#include <difss/train/train.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <cstring>

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "train") == 0) return difss::train::run_train(argc - 2, argv + 2);
  if (argc >= 4 && std::strcmp(argv[1], "diagnose") == 0) {  // diagnose SEGMENTER GENERATOR [EPISODES]
    difss::train::DiagnoseOptions o;
    o.segmenter = argv[2];
    o.generator = argv[3];
    if (argc >= 5) o.episodes = std::max(3, std::atoi(argv[4]));
    try {
      return difss::train::run_diagnose(o);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "diagnose: %s\n", e.what());
      return 1;
    }
  }
  const bool help = argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0);
  std::fprintf(help ? stdout : stderr,
               "usage: %s train diffusion|fss [options] (train --help lists them)\n"
               "       %s diagnose SEGMENTER.safetensors GENERATOR.safetensors [EPISODES (150)]  (varied world)\n",
               argv[0], argv[0]);
  return help ? 0 : 2;
}
