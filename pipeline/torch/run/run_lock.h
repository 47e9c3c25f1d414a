#pragma once
// One run at a time per run folder: an exclusive flock on <run>/run.lock, which the kernel
// releases when the process ends, however it ends. The file keeps the holder's pid for the
// message a second run gets (exit 2).
#include <filesystem>

namespace medsynth::pipeline::run {

class RunLock {
 public:
  explicit RunLock(const std::filesystem::path& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace medsynth::pipeline::run
