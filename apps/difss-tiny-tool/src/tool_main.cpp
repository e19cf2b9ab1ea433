// difss-tiny-tool: the embedded default's tiny models (core/models/tiny).
//   difss-tiny-tool train diffusion|fss [options]   train, write the checkpoint and its manifest
// (`difss-tiny-tool train --help` lists the options; `train fss --evaluate FILE` evaluates a checkpoint.)
#include <difss/train/train.hpp>

#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "train") == 0) return difss::train::run_train(argc - 2, argv + 2);
  const bool help = argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0);
  std::fprintf(help ? stdout : stderr, "usage: %s train diffusion|fss [options] (train --help lists them)\n", argv[0]);
  return help ? 0 : 2;
}
