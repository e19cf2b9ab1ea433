// Timing of the condition generators at ControlNet4FSS's size (resolution 512): per plugin the
// median time of one control map over N runs, and the peak resident memory (VmHWM).
//
// Standalone: the plugin classes are linked in directly (their *_objects libraries); the same
// function can be linked into difss-host later (`difss-host bench conditions`), it only needs
// these libraries and LibTorch.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace difss::bench {

struct ConditionBenchArgs {
  std::string image;               // RGB support image (any format cv::imread reads)
  std::string mask;                // optional: label image; pixels > 0 are the foreground
  int resolution = 512;
  int runs = 5;                    // timed runs per plugin (after one warm-up run)
  int threads = 0;                 // LibTorch intra-op threads; 0 = one per hardware thread
  std::string hed_checkpoint;      // ControlNetHED.pth; empty = random weights of the official shapes
  std::string pidinet_checkpoint;  // table5_pidinet.pth (required for softedge-pidinet)
  std::vector<std::string> only;   // plugin ids (or their last part, "hed"); empty = all
  std::string dump_dir;            // when set, every control map is written there as PNG
};

// Prints one table row per plugin to `out`; returns 0, or 1 when a plugin failed (the error is
// printed in its row, the others still run).
int run_condition_bench(const ConditionBenchArgs& args, std::ostream& out);

}  // namespace difss::bench
