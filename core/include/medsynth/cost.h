#pragma once
// What a run costs: wall time, CPU seconds (this process and its waited-for children: the ranks
// of --nproc), peak resident memory, energy, and the network's floating-point work (counted by
// modules::MacCounter and filled in by whoever owns one). One place for the runner's stage.json,
// the synthesised volumes, report.json and the report pages; docs/performance.md explains the
// figures and the energy estimate.
//
// Energy: the RAPL package counters under /sys/class/powercap (intel-rapl:N/energy_uj, also
// exposed for AMD CPUs) where they are readable, wrap-around handled with max_energy_range_uj;
// they measure the whole package, every process on it. Otherwise an estimate: CPU seconds x
// kWattsPerCore (or MEDSYNTH_WATTS_PER_CORE), marked estimated.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace medsynth::cost {

// Per busy core, for the estimate: the TDP per core of current server CPUs (AMD EPYC 9654:
// 360 W / 96 cores = 3.75 W; Intel Xeon 8480+: 350 W / 56 = 6.25 W), about 5 W. Leaves out
// memory, disks, fans, idle cores and the power supply's losses.
constexpr double kWattsPerCore = 5.0;

inline double watts_per_core() {
  if (const char* w = std::getenv("MEDSYNTH_WATTS_PER_CORE")) {
    char* end = nullptr;
    const double v = std::strtod(w, &end);
    if (end != w && *end == '\0' && v > 0 && std::isfinite(v)) return v;
  }
  return kWattsPerCore;
}

// User + system CPU seconds of this process (all threads) and of its children that were waited for.
inline double cpu_seconds_self() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}
inline double cpu_seconds_children() {
  rusage u{};
  getrusage(RUSAGE_CHILDREN, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}
// The largest peak RSS of a waited-for child (bytes; 0 without children).
inline double peak_rss_children_bytes() {
  rusage u{};
  getrusage(RUSAGE_CHILDREN, &u);
  return 1024.0 * static_cast<double>(u.ru_maxrss);
}

// "VmHWM:" of /proc/self/status in bytes (the peak since start or since the last reset); falls back
// to getrusage's ru_maxrss (the peak since start).
inline double peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return 1024.0 * std::strtod(line.c_str() + 6, nullptr);
  }
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return 1024.0 * static_cast<double>(u.ru_maxrss);
}

namespace detail {
// Every reset of the peak (writing 5 to /proc/self/clear_refs, Linux >= 4.0) folds the peak it
// forgets into this list, so that a meter started before an inner meter's reset still sees it.
struct PeakResets {
  std::mutex m;
  std::vector<double> forgotten;  // the peak before reset i
};
inline PeakResets& peak_resets() {
  static PeakResets r;
  return r;
}
}  // namespace detail

// Resets the kernel's peak RSS to the current RSS; returns the reset's number (for peak_since),
// or -1 where the reset is refused (then peaks are the process's since its start).
inline long reset_peak_rss() {
  auto& r = detail::peak_resets();
  std::lock_guard<std::mutex> lock(r.m);
  const double before = peak_rss_bytes();
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  if (!out) return -1;
  r.forgotten.push_back(before);
  return static_cast<long>(r.forgotten.size());
}
// The peak RSS since reset number `since` (from reset_peak_rss), inner resets included.
inline double peak_rss_since(long since) {
  auto& r = detail::peak_resets();
  std::lock_guard<std::mutex> lock(r.m);
  double peak = peak_rss_bytes();
  if (since > 0) {
    for (std::size_t i = static_cast<std::size_t>(since); i < r.forgotten.size(); ++i) peak = std::max(peak, r.forgotten[i]);
  }
  return peak;
}

// ---- RAPL ----
struct RaplDomain {
  std::string name;  // "intel-rapl:0" (the folder) and its "name" file, e.g. "package-0"
  std::uint64_t energy_uj = 0;
  std::uint64_t max_range_uj = 0;
};
struct RaplReading {
  std::vector<RaplDomain> packages;  // top-level domains only (sub-domains are inside them)
  bool ok() const { return !packages.empty(); }
};

// The top-level RAPL domains under `root` (intel-rapl:N, not intel-rapl:N:M), or none when
// absent or unreadable (energy_uj is root-only on current kernels).
inline RaplReading read_rapl(const std::string& root = "/sys/class/powercap") {
  RaplReading r;
  std::error_code ec;
  std::vector<std::filesystem::path> dirs;
  for (const auto& e : std::filesystem::directory_iterator(root, ec)) {
    const std::string n = e.path().filename().string();
    const std::string prefix = "intel-rapl:";
    if (n.rfind(prefix, 0) != 0 || n.size() == prefix.size()) continue;
    if (n.find_first_not_of("0123456789", prefix.size()) != std::string::npos) continue;
    dirs.push_back(e.path());
  }
  std::sort(dirs.begin(), dirs.end());
  for (const auto& d : dirs) {
    RaplDomain dom;
    std::ifstream e(d / "energy_uj"), m(d / "max_energy_range_uj"), n(d / "name");
    if (!(e >> dom.energy_uj) || !(m >> dom.max_range_uj)) return {};  // one unreadable: no reading
    std::string label;
    if (!(n >> label)) label = d.filename().string();
    dom.name = d.filename().string() + " (" + label + ")";
    r.packages.push_back(dom);
  }
  return r;
}

// Joules between two readings of the same domains: a counter that wrapped past max_energy_range_uj
// counts the way round. Negative when the domains differ.
inline double rapl_joules(const RaplReading& before, const RaplReading& after) {
  if (before.packages.size() != after.packages.size() || !before.ok()) return -1;
  double uj = 0;
  for (std::size_t i = 0; i < before.packages.size(); ++i) {
    const auto& a = before.packages[i];
    const auto& b = after.packages[i];
    if (a.name != b.name) return -1;
    if (b.energy_uj >= a.energy_uj) {
      uj += static_cast<double>(b.energy_uj - a.energy_uj);
    } else {
      uj += static_cast<double>(a.max_range_uj - a.energy_uj) + static_cast<double>(b.energy_uj);
    }
  }
  return uj * 1e-6;
}

// ---- the figures of one run ----
struct ResourceUse {
  double wall_seconds = 0;
  double cpu_seconds = 0;           // this process and its waited-for children
  double cpu_seconds_children = 0;  // of which the children
  double peak_rss_bytes = 0;        // the largest of this process's and any child's peak
  bool peak_rss_of_process = false; // the peak could not be reset: it is the process's since start
  double energy_joules = 0;
  bool energy_estimated = true;
  std::string energy_source;
  double gflop = -1;                // 2 x multiply-adds of convolutions and matrix products; < 0: not counted
  std::int64_t items = 0;           // slices of a volume, steps of a training run (0: not given)
  std::string item;                 // "slice", "step"
};

// Started at construction; finish() gives the use since then (gflop and items are the owner's).
class Meter {
 public:
  explicit Meter(std::string powercap_root = "/sys/class/powercap")
      : root_(std::move(powercap_root)),
        t0_(std::chrono::steady_clock::now()),
        cpu0_(cpu_seconds_self()),
        child0_(cpu_seconds_children()),
        reset_(reset_peak_rss()),
        rapl0_(read_rapl(root_)) {}

  ResourceUse finish() const {
    ResourceUse u;
    u.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const double child = cpu_seconds_children() - child0_;
    u.cpu_seconds = cpu_seconds_self() - cpu0_ + child;
    u.cpu_seconds_children = child;
    u.peak_rss_bytes = peak_rss_since(reset_);
    u.peak_rss_of_process = reset_ < 0;
    if (child > 0) u.peak_rss_bytes = std::max(u.peak_rss_bytes, peak_rss_children_bytes());
    const double j = rapl0_.ok() ? rapl_joules(rapl0_, read_rapl(root_)) : -1;
    if (j >= 0) {
      u.energy_joules = j;
      u.energy_estimated = false;
      u.energy_source = "RAPL package counters (" + root_ + "): every process on the package";
    } else {
      const double w = watts_per_core();
      u.energy_joules = u.cpu_seconds * w;
      std::ostringstream s;
      s << "estimate: CPU seconds x " << w << " W per busy core (no readable RAPL counters)";
      u.energy_source = s.str();
    }
    return u;
  }

 private:
  std::string root_;
  std::chrono::steady_clock::time_point t0_;
  double cpu0_, child0_;
  long reset_;
  RaplReading rapl0_;
};

// One line for people: "14 s, 0.6 CPU-minutes, 1.2 GiB peak, 35 GFLOP, ~2.1 kJ (estimated)".
inline std::string describe(const ResourceUse& u) {
  auto num = [](double v) {  // 2 significant figures below 10, whole numbers above
    char b[64];
    std::snprintf(b, sizeof b, v < 10 ? "%.1f" : "%.0f", v);
    return std::string(b);
  };
  std::string s = num(u.wall_seconds) + " s, " + num(u.cpu_seconds / 60.0) + " CPU-minutes, " +
                  num(u.peak_rss_bytes / (1024.0 * 1024 * 1024)) + " GiB peak";
  if (u.gflop >= 0) s += ", " + num(u.gflop) + " GFLOP";
  const double j = u.energy_joules;
  s += ", " + std::string(u.energy_estimated ? "~" : "") +
       (j < 1000 ? num(j) + " J" : j < 3.6e6 ? num(j / 1e3) + " kJ" : num(j / 3.6e6) + " kWh");
  if (u.energy_estimated) s += " (estimated)";
  return s;
}

}  // namespace medsynth::cost
