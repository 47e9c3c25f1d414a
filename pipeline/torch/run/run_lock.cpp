#include "run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "medsynth/io/error.h"

namespace medsynth::pipeline::run {

RunLock::RunLock(const std::filesystem::path& dir) {
  const std::string path = (dir / "run.lock").string();
  fd_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (fd_ < 0) throw io::Error(path, std::string("cannot open the lock file: ") + std::strerror(errno), ExitCode::kRuntime);
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[64] = {0};
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("unknown");
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    ::close(fd_);
    if (err == EWOULDBLOCK) {
      throw medsynth::Error(dir.string() + ": another medsynth run (pid " + pid +
                                ") is using this run folder; wait for it to finish, or give this run another "
                                "train.out",
                            ExitCode::kBadInput);
    }
    throw io::Error(path, std::string("cannot lock: ") + std::strerror(err), ExitCode::kRuntime);
  }
  const std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) < 0) {
    // The pid is only for the message of a second run; the lock itself holds.
  }
}

RunLock::~RunLock() { ::close(fd_); }

}  // namespace medsynth::pipeline::run
