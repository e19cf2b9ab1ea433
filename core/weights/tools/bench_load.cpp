// Prints load time and peak RSS for one checkpoint:
//   difss-weights-bench FILE [--map|--copy] [--prefix P] [--touch]
// --touch reads every byte of every tensor afterwards (mapped pages then count in the RSS).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "difss/weights/load.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE [--map|--copy] [--prefix P]\n", argv[0]);
    return 2;
  }
  difss::weights::LoadOptions options;
  bool touch = false;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--map")) options.memory = difss::weights::MemoryMode::Map;
    else if (!std::strcmp(argv[i], "--copy")) options.memory = difss::weights::MemoryMode::Copy;
    else if (!std::strcmp(argv[i], "--touch")) touch = true;
    else if (!std::strcmp(argv[i], "--prefix") && i + 1 < argc) options.filter = difss::weights::keep_prefixes({argv[++i]});
  }
  try {
    const auto start = std::chrono::steady_clock::now();
    difss::weights::StateDict sd = difss::weights::load(argv[1], options);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    unsigned char sum = 0;
    if (touch) {
      for (const auto& item : sd) {
        const at::Tensor& t = item.tensor;
        if (!t.defined() || t.numel() == 0) continue;
        const auto* p = static_cast<const unsigned char*>(t.storage().data());
        for (std::size_t i = 0; i < t.storage().nbytes(); i += 64) sum ^= p[i];
      }
    }
    struct rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    std::printf("%s: %zu tensors, %lld elements, load %.3f s, peak RSS %.1f MiB", argv[1], sd.size(),
                static_cast<long long>(sd.numel()), secs, usage.ru_maxrss / 1024.0);
    if (touch) std::printf(" (all data touched, checksum %02x)", sum);
    std::printf("\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
