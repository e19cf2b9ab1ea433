#include "difss/core/threads.hpp"

#include <ATen/Parallel.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

#include "difss/core/log.hpp"

namespace difss {

namespace {
std::atomic<int> g_threads{0};
}

int configure_threads(int requested) {
  int n = requested > 0 ? requested : int(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  int expected = 0;
  if (!g_threads.compare_exchange_strong(expected, n)) {
    if (expected != n)
      logger()->debug("threads already set to {}; ignoring a request for {}", expected, n);
    return expected;
  }
  // OpenBLAS (openmp flavour) and LibTorch's intra-op pool follow OMP_NUM_THREADS too.
  setenv("OMP_NUM_THREADS", std::to_string(n).c_str(), 0);
  at::set_num_threads(n);
  logger()->debug("compute threads: {}", n);
  return n;
}

int configured_threads() { return g_threads.load(); }

}  // namespace difss
