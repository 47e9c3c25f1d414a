#pragma once
// A progress report scoped to a loop: `Progress bar("training", steps); ... bar.update(step, text);`
// On a terminal it redraws one line with rate and ETA; otherwise (logs, CI) it prints a line every
// `every` steps.
#include <chrono>
#include <cstdio>
#include <string>

namespace medsynth::pipeline {

class Progress {
 public:
  Progress(std::string label, long total, long first = 0, long every = 10);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  // Reports that `done` units are finished; `text` is shown after the counters (e.g. the loss).
  void update(long done, const std::string& text = "");

 private:
  std::string label_;
  long total_, first_, every_, done_ = 0;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace medsynth::pipeline
