// difss-segmenter-tool: the segmenter benchmark and evaluation commands as a standalone program
// (the same functions are meant for `difss-host bench segmenter` / `difss-host eval segmenter`).
#include <difss/fss/bench.hpp>


#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "bench") == 0) return difss::fss::run_segmenter_bench(argc - 1, argv + 1);
  if (argc >= 2 && std::strcmp(argv[1], "eval") == 0) return difss::fss::run_segmenter_eval(argc - 1, argv + 1);
  std::fprintf(stderr, "usage: %s bench|eval [--help]\n", argv[0]);
  return 2;
}
