// bench_conditions: prints the per-image time and peak memory of every condition generator.
//   bench_conditions [--image F] [--mask F] [--runs N] [--resolution R] [--threads T]
//                    [--hed-checkpoint F] [--pidinet-checkpoint F] [--only ID]... [--dump DIR]
// Defaults use the shared test data (DIFSS_SHARED_DIR or ../shared beside the sources).
#include "condition_bench.hpp"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  const char* env = std::getenv("DIFSS_SHARED_DIR");
  fs::path shared = env && *env ? fs::path(env) : fs::path(DIFSS_SOURCE_DIR) / ".." / "shared";
  difss::bench::ConditionBenchArgs a;
  a.image = (shared / "data" / "voc-sample" / "JPEGImages" / "2011_000003.jpg").string();
  a.pidinet_checkpoint = (shared / "weights" / "pidinet" / "table5_pidinet.pth").string();
  CLI::App app{"Time the condition generators (median per image, peak RSS)"};
  app.add_option("--image", a.image, "support image");
  app.add_option("--mask", a.mask, "support mask (label image, > 0 = foreground); default: a centred ellipse");
  app.add_option("--runs", a.runs, "timed runs per plugin")->check(CLI::Range(1, 1000));
  app.add_option("--resolution", a.resolution, "control map short side")->check(CLI::Range(64, 2048));
  app.add_option("--threads", a.threads, "LibTorch intra-op threads (0 = one per hardware thread)")->check(CLI::Range(0, 256));
  app.add_option("--hed-checkpoint", a.hed_checkpoint, "ControlNetHED.pth (default: random official-shape weights)");
  app.add_option("--pidinet-checkpoint", a.pidinet_checkpoint, "table5_pidinet.pth");
  app.add_option("--only", a.only, "plugin ids or short names (hed, canny, ...)");
  app.add_option("--dump", a.dump_dir, "write each control map as PNG into this folder");
  CLI11_PARSE(app, argc, argv);
  return difss::bench::run_condition_bench(a, std::cout);
}
