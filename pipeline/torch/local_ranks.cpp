// --nproc N: local data-parallel ranks of one command (local_ranks.h).
#include "local_ranks.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <iostream>
#include <thread>

#include "medsynth/error.h"
#include "medsynth/pipeline/distributed.h"

namespace medsynth::pipeline {
namespace {

// The local ranks of --nproc, for the launcher's handler: a stop signal (SIGTERM, SIGINT, SIGUSR1)
// sent to the launcher is passed on to every rank, which stop together after a step with a
// checkpoint (trainer.cpp) and exit with code 75.
const pid_t* g_rank_pids = nullptr;
volatile std::sig_atomic_t g_rank_count = 0;

void forward_to_ranks(int sig) {
  for (std::sig_atomic_t i = 0; i < g_rank_count; ++i) ::kill(g_rank_pids[i], sig);
}

}  // namespace

// N local ranks of this same command, found by each other the torchrun way on a free
// port of 127.0.0.1. When one rank fails, the others are stopped; the first failure's exit code
// is returned.
int launch_local_ranks(const std::string& command, int n, const po::variables_map& vm) {
  std::vector<std::string> args = vm[kArgsKey].as<std::vector<std::string>>();
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(std::min(args.size(), i + 2)));
      break;
    }
    if (args[i].rfind("--nproc=", 0) == 0) {
      args.erase(args.begin() + static_cast<long>(i));
      break;
    }
  }
  bool threads_given = false;
  for (const auto& a : args) threads_given = threads_given || a.rfind("--train.threads", 0) == 0;
  if (!threads_given) {
    args.push_back("--train.threads");
    args.push_back(std::to_string(std::max(1u, std::thread::hardware_concurrency() / static_cast<unsigned>(n))));
  }
  const std::string port = std::to_string(free_tcp_port());
  std::vector<pid_t> pids;
  for (int r = 0; r < n; ++r) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(n).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", port.c_str(), 1);
      std::vector<std::string> argv_s{"medsynth", command};
      argv_s.insert(argv_s.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& s : argv_s) argv.push_back(s.data());
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  g_rank_pids = pids.data();
  g_rank_count = static_cast<std::sig_atomic_t>(pids.size());
  struct sigaction forward {}, previous[3];
  forward.sa_handler = forward_to_ranks;
  sigemptyset(&forward.sa_mask);
  forward.sa_flags = SA_RESTART;
  const int stop_signals[3] = {SIGTERM, SIGINT, SIGUSR1};
  for (int i = 0; i < 3; ++i) ::sigaction(stop_signals[i], &forward, &previous[i]);
  int result = 0;
  for (std::size_t left = pids.size(); left > 0; --left) {
    int status = 0;
    pid_t done = -1;
    do {
      done = ::wait(&status);
    } while (done < 0 && errno == EINTR);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 3;
    if (code == static_cast<int>(ExitCode::kStopped)) {
      if (result == 0) result = code;  // stopped by a signal: the other ranks stop after the same step
    } else if (code != 0 && (result == 0 || result == static_cast<int>(ExitCode::kStopped))) {
      result = code;
      std::cerr << "medsynth: error: rank " << (std::find(pids.begin(), pids.end(), done) - pids.begin())
                << " failed; stopping the other ranks\n";
      for (pid_t p : pids) {
        if (p != done) ::kill(p, SIGTERM);
      }
    }
  }
  for (int i = 0; i < 3; ++i) ::sigaction(stop_signals[i], &previous[i], nullptr);
  g_rank_count = 0;
  return result;
}

}  // namespace medsynth::pipeline
