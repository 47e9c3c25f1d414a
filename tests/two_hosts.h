#pragma once
// Two "hosts" for the multi-node tests: two network namespaces joined by a veth pair, each with its
// own interface and address (10.203.0.1/30 and .2, reachable only inside these namespaces: nothing
// else is routed there). Needs root and iproute2, as CI has; where namespaces cannot be made the
// tests skip, saying why (error()). Processes are started in a namespace with setns() and exec;
// at scope exit they are killed and reaped and both namespaces deleted (which removes the pair),
// also when a test fails. Names carry the test's pid, so concurrent runs never meet, and namespaces
// left by a killed test process (its pid gone) are deleted by the next one.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace medsynth::test {

class TwoHosts {
 public:
  TwoHosts() {
    if (::geteuid() != 0) {
      error_ = "network namespaces need root (this test runs as uid " + std::to_string(::geteuid()) + ")";
      return;
    }
    if (shell("ip -V") != 0) {
      error_ = "iproute2's 'ip' is not installed (scripts/setup.sh installs it)";
      return;
    }
    remove_stale();
    static int counter = 0;
    const std::string id = std::to_string(::getpid()) + "x" + std::to_string(counter++);
    for (int h = 0; h < 2; ++h) {
      ns_[h] = "medsynth-" + id + (h ? "b" : "a");
      if_[h] = "ms" + std::to_string(::getpid() % 100000) + std::to_string(counter % 10) + (h ? "b" : "a");
    }
    std::string out;
    for (int h = 0; h < 2; ++h) {
      if (shell("ip netns add " + ns_[h], &out) != 0) {
        error_ = "cannot make a network namespace here ('ip netns add' said: " + out + ")";
        return;
      }
      made_[h] = true;
    }
    const std::string steps[] = {
        "ip link add " + if_[0] + " netns " + ns_[0] + " type veth peer name " + if_[1] + " netns " + ns_[1],
        "ip -n " + ns_[0] + " addr add " + address(0) + "/30 dev " + if_[0],
        "ip -n " + ns_[1] + " addr add " + address(1) + "/30 dev " + if_[1],
        "ip -n " + ns_[0] + " link set lo up", "ip -n " + ns_[1] + " link set lo up",
        "ip -n " + ns_[0] + " link set " + if_[0] + " up", "ip -n " + ns_[1] + " link set " + if_[1] + " up"};
    for (const auto& s : steps) {
      if (shell(s, &out) != 0) {
        error_ = "'" + s + "' failed: " + out;
        return;
      }
    }
    ok_ = true;
  }
  ~TwoHosts() {
    for (pid_t p : pids_) {
      if (::waitpid(p, nullptr, WNOHANG) == 0) {
        ::kill(p, SIGKILL);
        ::waitpid(p, nullptr, 0);
      }
    }
    for (int h = 0; h < 2; ++h) {
      if (made_[h]) shell("ip netns del " + ns_[h]);
    }
  }
  TwoHosts(const TwoHosts&) = delete;
  TwoHosts& operator=(const TwoHosts&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  std::string address(int host) const { return host ? "10.203.0.2" : "10.203.0.1"; }
  const std::string& interface(int host) const { return if_[host]; }
  const std::string& name(int host) const { return ns_[host]; }

  // Starts `args` (after the binary) in `host`'s namespace with `env` added (NAME=value), stdout and
  // stderr into `log`; returns the pid (reaped by wait_for or at scope exit).
  pid_t start(int host, const std::vector<std::string>& env, const std::vector<std::string>& args,
              const std::string& log) {
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e) env_s.emplace_back(*e);
    env_s.insert(env_s.end(), env.begin(), env.end());
    std::vector<std::string> argv_s{MEDSYNTH_BINARY};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv, envp;
    for (auto& s : argv_s) argv.push_back(s.data());
    for (auto& s : env_s) envp.push_back(s.data());
    argv.push_back(nullptr);
    envp.push_back(nullptr);
    const std::string ns_path = "/run/netns/" + ns_[host];
    const int ns_fd = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
    const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (ns_fd < 0 || log_fd < 0 || ::setns(ns_fd, CLONE_NEWNET) != 0) ::_exit(126);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    if (ns_fd >= 0) ::close(ns_fd);
    if (log_fd >= 0) ::close(log_fd);
    pids_.push_back(pid);
    return pid;
  }

  // The exit code of `pid` once it ends within `seconds` (128 + signal when killed by one), or -1
  // when it is still running then (it is killed).
  static int wait_for(pid_t pid, double seconds) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    int status = 0;
    while (std::chrono::steady_clock::now() < until) {
      if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
  }

  // Takes `host`'s end of the link down or up (`ip link set ... down|up`).
  bool set_link(int host, bool up) {
    return shell("ip -n " + ns_[host] + " link set " + if_[host] + (up ? " up" : " down")) == 0;
  }

  // Runs a command line in the root namespace; its output in *out.
  static int shell(const std::string& command, std::string* out = nullptr) {
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    if (!p) return -1;
    std::string text;
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) text += buf;
    const int rc = ::pclose(p);
    if (out) *out = text;
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }

 private:
  // Namespaces of this helper whose test process is gone (killed before its destructor ran).
  static void remove_stale() {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/run/netns", ec)) {
      const std::string n = e.path().filename().string();
      if (n.rfind("medsynth-", 0) != 0) continue;
      const int pid = std::atoi(n.c_str() + 9);
      if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) shell("ip netns del " + n);
    }
  }

  std::array<std::string, 2> ns_, if_;
  std::array<bool, 2> made_{false, false};
  bool ok_ = false;
  std::string error_;
  std::vector<pid_t> pids_;
};

}  // namespace medsynth::test
