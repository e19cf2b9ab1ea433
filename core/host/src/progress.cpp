#include "difss/core/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include "difss/core/log.hpp"

namespace difss {

namespace {
std::string format_duration(double s) {
  if (s < 0 || s > 1e7) return "--:--";
  int t = int(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%02d:%02d", t / 60, t % 60);
  return buf;
}
}  // namespace

Progress::Progress(std::string label, uint64_t total, bool force_plain)
    : label_(std::move(label)),
      total_(total),
      tty_(!force_plain && isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - std::chrono::hours(1)) {}

Progress::~Progress() { finish(); }

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::advance(uint64_t n, bool skipped) {
  std::lock_guard<std::mutex> lock(mutex_);
  done_ += n;
  if (skipped) skipped_ += n;
  note_.clear();
  draw(done_ >= total_);
}

void Progress::note(const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  note_ = text;
  draw(false);
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  finished_ = true;
  note_.clear();
  if (tty_) {
    draw(true);
    std::fputc('\n', stderr);
  } else if (done_ < total_) {
    draw(true);
  }
}

void Progress::draw(bool force) {
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  if (!force && since < (tty_ ? 0.1 : 5.0)) return;
  last_draw_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  uint64_t worked = done_ - skipped_;
  double rate = elapsed > 0 ? worked / elapsed : 0;
  double eta = rate > 0 ? (total_ - done_) / rate : -1;
  char rate_s[32];
  if (rate >= 1 || rate == 0) std::snprintf(rate_s, sizeof rate_s, "%.2f/s", rate);
  else std::snprintf(rate_s, sizeof rate_s, "%.1fs/it", 1.0 / rate);
  if (tty_) {
    const int width = 28;
    int filled = total_ ? int(width * double(done_) / total_) : width;
    std::string bar(size_t(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r\033[K%s [%s] %llu/%llu %s ETA %s%s%s", label_.c_str(), bar.c_str(),
                 (unsigned long long)done_, (unsigned long long)total_, rate_s,
                 format_duration(eta).c_str(), note_.empty() ? "" : "  ", note_.c_str());
    std::fflush(stderr);
  } else {
    logger()->info("{}: {}/{} ({} skipped) {} ETA {}{}{}", label_, done_, total_, skipped_, rate_s,
                   format_duration(eta), note_.empty() ? "" : " ", note_);
  }
}

}  // namespace difss
