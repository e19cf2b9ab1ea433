// difss-sd-tool: the Stable Diffusion + ControlNet model family's own tool (difss_sd, linked
// directly; plugins are timed through the ABI by `difss-host bench ID`).
//
//   difss-sd-tool bench [--threads N] [--precision fp32|bf16|both] [--steps N] [--size N]
//                       [--config sd15|reduced] [--checkpoint FILE --vocab FILE]
//       seconds per UNet+ControlNet step of the full-size model with random weights (or load
//       time and one end-to-end image of a real checkpoint), peak RSS
//   difss-sd-tool write-checkpoint [--config sd15|reduced] FILE
//       a random-weight checkpoint in the official layout (the build writes the reduced one for
//       the conformance fixture of controlnet-sd15)
#include <difss/core/compute_env.hpp>
#include <difss/core/threads.hpp>
#include <difss/sd/bench.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

const char* const kUsage =
    "usage: difss-sd-tool bench [--threads N] [options]   (difss-sd-tool bench --help lists them)\n"
    "       difss-sd-tool write-checkpoint [--config sd15|reduced] FILE\n";

int bench(int argc, char** argv) {  // argv[0] = "bench"
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      const int n = std::atoi(argv[++i]);
      if (n > 0) difss::configure_threads(n);  // the process's one thread setting
    } else {
      rest.push_back(argv[i]);
    }
  }
  return difss::sd::run_sampler_bench(int(rest.size()), rest.data());
}

int write_checkpoint(int argc, char** argv) {  // argv[0] = "write-checkpoint"
  std::string config = "sd15", file;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) config = argv[++i];
    else if (file.empty() && a.rfind("--", 0) != 0) file = a;
    else {
      std::fprintf(stderr, "difss-sd-tool write-checkpoint: unexpected argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (file.empty()) {
    std::fprintf(stderr, "difss-sd-tool write-checkpoint: FILE is required\n%s", kUsage);
    return 2;
  }
  std::string cmd = "write-checkpoint", c = "--config", w = "--write-checkpoint";
  std::vector<char*> args{cmd.data(), c.data(), config.data(), w.data(), file.data()};
  return difss::sd::run_sampler_bench(int(args.size()), args.data());
}

}  // namespace

int main(int argc, char** argv) {
  // Benches time what difss-host runs: the same BLAS kernels (compute_env.hpp).
  difss::reexec_for_better_blas(argv);
  difss::log_compute_environment();
  if (argc >= 2 && std::strcmp(argv[1], "bench") == 0)
    std::printf("compute: %s\n", difss::compute_environment_line().c_str());
  if (argc >= 2 && std::strcmp(argv[1], "bench") == 0) return bench(argc - 1, argv + 1);
  if (argc >= 2 && std::strcmp(argv[1], "write-checkpoint") == 0) return write_checkpoint(argc - 1, argv + 1);
  const bool help = argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0);
  std::fputs(kUsage, help ? stdout : stderr);
  return help ? 0 : 2;
}
