// Where a model's time goes, per ATen operator: a RecordFunction observer on the calling thread
// that times the outermost operator calls (aten::conv2d, not the convolution it dispatches to)
// and counts the floating-point work of the heavy ones (convolution, linear, matmul) to show how
// far each runs from the machine's FLOP rate. For benches (`--profile`); costs ~1 us per op.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace difss {

class OpProfile {
 public:
  struct Entry {
    int64_t calls = 0;
    double seconds = 0;  // inclusive wall time of the outermost calls
    double flops = 0;    // multiply-adds x 2, where known (0 otherwise)
  };

  OpProfile();  // starts observing this thread
  ~OpProfile();
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;

  void reset() { entries_.clear(); }
  const std::map<std::string, Entry>& entries() const { return entries_; }
  // A table sorted by time: op, calls, seconds, share of `total_seconds` (or of the ops' sum
  // when 0), GFLOP/s where known; the `top` largest rows and one for the rest.
  std::string table(double total_seconds = 0, int top = 20) const;

 private:
  std::map<std::string, Entry> entries_;
  uint64_t handle_ = 0;
};

}  // namespace difss
