// difss-fss-tool: the few-shot segmenter family's own tool.
//   difss-fss-tool bench [options]   model-level speed and memory (difss_fss linked directly)
//   difss-fss-tool eval [options]    a segmenter plugin's mIoU / FB-IoU on a dataset, through the
//                                    runner's evaluation loop
#include <difss/core/compute_env.hpp>
#include <cstdio>
#include <cstring>

#include "segmenter_bench.hpp"

int main(int argc, char** argv) {
  // Benches time what difss-host runs: the same BLAS kernels (compute_env.hpp).
  difss::reexec_for_better_blas(argv);
  difss::log_compute_environment();
  if (argc >= 2 && std::strcmp(argv[1], "bench") == 0)
    std::printf("compute: %s\n", difss::compute_environment_line().c_str());
  if (argc >= 2 && std::strcmp(argv[1], "bench") == 0) return difss::fss::run_segmenter_bench(argc - 1, argv + 1);
  if (argc >= 2 && std::strcmp(argv[1], "eval") == 0) return difss::fss::run_segmenter_eval(argc - 1, argv + 1);
  const bool help = argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0);
  std::fprintf(help ? stdout : stderr, "usage: %s bench|eval [--help]\n", argv[0]);
  return help ? 0 : 2;
}
