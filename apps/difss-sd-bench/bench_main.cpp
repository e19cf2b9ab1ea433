// difss-sd-bench: see difss/sd/bench.hpp. Threads: --threads N (0 = LibTorch's default).
#include <difss/sd/bench.hpp>
#include <difss/core/threads.hpp>

#include <ATen/Parallel.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      int n = std::atoi(argv[++i]);
      if (n > 0) difss::configure_threads(n);  // the process's one thread setting
    } else {
      rest.push_back(argv[i]);
    }
  }
  return difss::sd::run_sampler_bench(int(rest.size()), rest.data());
}
