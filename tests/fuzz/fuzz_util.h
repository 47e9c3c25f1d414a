#pragma once
// Shared by the libFuzzer harnesses: the input as a file of its own under /dev/shm (the readers
// take paths), removed after the run.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

namespace medsynth::fuzz {

class InputFile {
 public:
  InputFile(const std::uint8_t* data, std::size_t size, const std::string& suffix)
      : path_("/dev/shm/medsynth-fuzz-" + std::to_string(::getpid()) + suffix) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  ~InputFile() { ::unlink(path_.c_str()); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace medsynth::fuzz
