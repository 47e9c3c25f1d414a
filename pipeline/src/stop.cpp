#include "medsynth/pipeline/stop.h"

#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

namespace medsynth::pipeline {
namespace {

constexpr int kSignals[] = {SIGTERM, SIGINT, SIGUSR1};
volatile std::sig_atomic_t g_signal = 0;
int g_depth = 0;
struct sigaction g_previous[3];

void on_signal(int sig) {
  if (g_signal != 0 && sig == SIGINT) {
    // Ctrl-C twice: stop now (what is on disk stays consistent: every write is atomic).
    ::signal(SIGINT, SIG_DFL);
    ::raise(SIGINT);
    return;
  }
  if (g_signal == 0) {
    g_signal = sig;
    const char* msg = sig == SIGTERM ? "\nmedsynth: SIGTERM: finishing the work in progress, saving it, then stopping\n"
                      : sig == SIGINT ? "\nmedsynth: SIGINT: finishing the work in progress, saving it, then stopping "
                                        "(Ctrl-C again stops at once)\n"
                                      : "\nmedsynth: SIGUSR1: finishing the work in progress, saving it, then stopping\n";
    const ssize_t n = ::write(STDERR_FILENO, msg, std::strlen(msg));
    (void)n;
  }
}

}  // namespace

StopSignals::StopSignals() {
  if (g_depth++ > 0) return;
  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // blocking reads and writes continue; the loops poll the flag
  for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &sa, &g_previous[i]);
}

StopSignals::~StopSignals() {
  if (--g_depth > 0) return;
  for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &g_previous[i], nullptr);
}

bool stop_requested() { return g_signal != 0; }

std::string stop_signal_name() {
  switch (g_signal) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    default: return "";
  }
}

void throw_if_stop_requested(const std::string& what, const std::string& next) {
  if (stop_requested()) throw Stopped(what + ": stopped by " + stop_signal_name() + "; " + next);
}

}  // namespace medsynth::pipeline
