// Progress for long work: a bar with rate and ETA on a terminal, plain log lines otherwise
// (at most one every few seconds, so CI logs stay readable).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace difss {

class Progress {
 public:
  Progress(std::string label, uint64_t total, bool force_plain = false);
  ~Progress();
  // Marks `n` more units done (skipped units count: they advance the bar but not the rate).
  void advance(uint64_t n = 1, bool skipped = false);
  // A short note shown after the bar (e.g. "sampling step 7/20"); throttled.
  void note(const std::string& text);
  void finish();
  double elapsed_seconds() const;

 private:
  void draw(bool force);
  std::string label_;
  uint64_t total_, done_ = 0, skipped_ = 0;
  bool tty_, finished_ = false;
  std::string note_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::mutex mutex_;
};

}  // namespace difss
