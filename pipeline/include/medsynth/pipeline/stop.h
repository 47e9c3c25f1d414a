#pragma once
// A clean stop on SIGTERM, SIGINT or SIGUSR1 (what Slurm sends before a time limit or a
// preemption, `sbatch --signal=USR1@120`). While a StopSignals guard lives, those signals only
// set a flag; the long loops (training steps, sampled batches, evaluated volumes, the runner's
// stages) poll stop_requested() between units of work, save what is done (training writes a
// checkpoint) and throw Stopped, which exits with ExitCode::kStopped (75). A second SIGINT
// (Ctrl-C twice) stops at once. Outside a guard the signals keep their default action, which is
// safe there: every output is written under a temporary name and renamed.
#include <string>

#include "medsynth/error.h"

namespace medsynth::pipeline {

// Installs the handlers for its lifetime (nested guards share the outermost one's handlers and
// flag) and restores the previous handlers when the outermost guard ends.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
};

// True once a stop signal arrived under a guard.
bool stop_requested();
// "SIGTERM", "SIGINT", "SIGUSR1" (the first one received), or "" when none.
std::string stop_signal_name();

// The work was stopped by a signal after saving what was done; exit code 75.
class Stopped : public medsynth::Error {
 public:
  explicit Stopped(const std::string& what) : Error(what, ExitCode::kStopped) {}
};

// Throws Stopped with "<what>: stopped by <signal>; <next>" when a stop was requested.
void throw_if_stop_requested(const std::string& what, const std::string& next);

}  // namespace medsynth::pipeline
