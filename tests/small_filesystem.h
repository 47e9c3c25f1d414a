#pragma once
// A small tmpfs mounted on a fresh folder for the full-disk tests (needs root, as CI runs; the
// tests skip, saying so, where mounting is not allowed). Unmounted and removed at scope exit.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace medsynth::test {

class SmallFilesystem {
 public:
  explicit SmallFilesystem(std::size_t bytes) {
    const std::string options = "size=" + std::to_string(bytes);
    if (::mount("tmpfs", dir_.str().c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::strerror(errno);
    }
  }
  ~SmallFilesystem() {
    if (mounted_) ::umount2(dir_.str().c_str(), MNT_DETACH);
  }
  SmallFilesystem(const SmallFilesystem&) = delete;
  SmallFilesystem& operator=(const SmallFilesystem&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  std::string str(const std::string& name = "") const { return dir_.str(name); }
  // Bytes a non-root writer could still use.
  std::size_t free_bytes() const {
    struct statvfs st {};
    ::statvfs(dir_.str().c_str(), &st);
    return static_cast<std::size_t>(st.f_bavail) * st.f_frsize;
  }
  // Fills the file system up to `leave` free bytes with the file `name`.
  void fill(const std::string& name, std::size_t leave) {
    std::ofstream f(str(name), std::ios::binary);
    const std::vector<char> block(4096, 'x');
    while (free_bytes() > leave + block.size()) f.write(block.data(), static_cast<std::streamsize>(block.size())), f.flush();
  }
  // Every entry below the mount point except `except`, as paths relative to it.
  std::vector<std::string> entries(const std::string& except = "") const {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_.path())) {
      const std::string rel = fs::relative(e.path(), dir_.path()).string();
      if (rel != except) out.push_back(rel);
    }
    return out;
  }

 private:
  TempDir dir_;
  bool mounted_ = false;
  std::string error_;
};

#define MEDSYNTH_REQUIRE_MOUNT(small)                                                                     \
  if (!(small).mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (" << (small).error()               \
                                       << "); the full-disk tests need root, as in CI"

}  // namespace medsynth::test
