#include "medsynth/pipeline/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace medsynth::pipeline {

namespace {
std::string format_seconds(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%02ld:%02ld", t / 60, t % 60);
  }
  return buf;
}
}  // namespace

Progress::Progress(std::string label, long total, long first, long every)
    : label_(std::move(label)), total_(total), first_(first), every_(std::max(1L, every)), done_(first),
      tty_(::isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() {
  if (tty_) std::fprintf(stderr, "\n");
}

void Progress::update(long done, const std::string& text) {
  done_ = done;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_ - first_) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : -1;
  if (tty_) {
    if (done_ < total_ && std::chrono::duration<double>(now - last_draw_).count() < 0.2) return;
    last_draw_ = now;
    const int width = 30;
    const int filled = total_ > 0 ? static_cast<int>(width * done_ / total_) : 0;
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r%s [%s] %ld/%ld %.2f/s ETA %s %s\033[K", label_.c_str(), bar.c_str(), done_, total_, rate,
                 format_seconds(eta).c_str(), text.c_str());
  } else if (done_ % every_ == 0 || done_ == total_) {
    std::fprintf(stderr, "%s %ld/%ld (%.2f/s, ETA %s) %s\n", label_.c_str(), done_, total_, rate,
                 format_seconds(eta).c_str(), text.c_str());
  }
  std::fflush(stderr);
}

}  // namespace medsynth::pipeline
