#pragma once
// Memory checks before large allocations (a volume, the slice cache): refuse with "needs X GiB,
// Y GiB available" rather than be killed by the kernel's OOM killer half-way through.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "medsynth/error.h"

namespace medsynth {

// Bytes this process can still allocate without swapping: /proc/meminfo's MemAvailable, or less
// when a cgroup v2 memory limit (memory.max - memory.current, a container's or Slurm job's) is
// lower. 0 when unknown (no /proc): then nothing is refused.
inline std::uint64_t available_memory() {
  std::uint64_t avail = 0;
  {
    std::ifstream in("/proc/meminfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("MemAvailable:", 0) == 0) {
        try {
          avail = std::stoull(line.substr(13)) * 1024;  // "MemAvailable:   123456 kB"
        } catch (const std::exception&) {
        }
        break;
      }
    }
  }
  std::ifstream max_in("/sys/fs/cgroup/memory.max"), cur_in("/sys/fs/cgroup/memory.current");
  std::string max_text;
  std::uint64_t current = 0;
  if (max_in >> max_text && max_text != "max" && cur_in >> current) {
    try {
      const std::uint64_t limit = std::stoull(max_text);
      const std::uint64_t left = limit > current ? limit - current : 0;
      avail = avail == 0 ? left : std::min(avail, left);
    } catch (const std::exception&) {
      // unreadable: MemAvailable alone
    }
  }
  return avail;
}

inline std::string gib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

// Throws medsynth::Error("<what>: needs X GiB, Y GiB available", exit 3) when `bytes` exceed
// the available memory. `what` names the file or the thing being made.
inline void require_memory(std::uint64_t bytes, const std::string& what) {
  const std::uint64_t avail = available_memory();
  if (avail == 0 || bytes <= avail) return;
  throw Error(what + ": needs " + gib(bytes) + ", " + gib(avail) + " available (free memory, or use a machine with more)",
              ExitCode::kRuntime);
}

}  // namespace medsynth
