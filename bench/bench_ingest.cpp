// Ingest speed: medsynth reading a 181-slice DICOM series of Colin27 (written by plastimatch)
// into a Volume, against dcm2niix converting the same series, in one run, as a ratio.
// usage: bench_ingest [SERIES_DIR] [--repeat N]   (without SERIES_DIR it makes one in /tmp)
// Two figures: the library call against dcm2niix's whole run (dcm2niix also writes its .nii),
// and the like-for-like command line, medsynth convert writing .nii, against the same run.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "medsynth/io/volume_io.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int sh(const std::string& cmd) { return std::system(cmd.c_str()); }

}  // namespace

int main(int argc, char** argv) {
  std::string series;
  int repeat = 5;
  // The medsynth binary sits beside this one in the build tree (bench/ and pipeline/).
  std::string medsynth_binary;
  {
    const fs::path self = fs::canonical("/proc/self/exe");
    const fs::path candidate = self.parent_path().parent_path() / "pipeline" / "medsynth";
    if (fs::exists(candidate)) medsynth_binary = candidate.string();
  }
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--repeat" && i + 1 < argc) repeat = std::atoi(argv[++i]);
    else series = a;
  }
  const fs::path work = fs::temp_directory_path() / "medsynth-bench-ingest";
  fs::create_directories(work);
  if (series.empty()) {
    series = (work / "ch2-dicom").string();
    if (!fs::exists(series)) {
      const std::string cmd = "plastimatch convert --input /usr/share/mricron/templates/ch2.nii.gz "
                              "--output-dicom " + series + " >/dev/null 2>&1";
      if (sh(cmd) != 0) {
        std::cerr << "bench_ingest: plastimatch failed (install plastimatch and mricron-data)\n";
        return 3;
      }
    }
  }
  // Warm the page cache once for both contenders.
  medsynth::io::read_volume(series);

  double medsynth_s = 1e30, dcm2niix_s = 1e30, cli_s = 1e30;
  std::size_t slices = 0;
  for (int r = 0; r < repeat; ++r) {
    auto t0 = Clock::now();
    auto v = medsynth::io::read_volume(series);
    medsynth_s = std::min(medsynth_s, seconds_since(t0));
    slices = v.geometry.size[2];

    const fs::path out = work / "dcm2niix-out";
    fs::remove_all(out);
    fs::create_directories(out);
    // -z n: no compression, so both sides decode and store raw voxels; -b n: no JSON sidecar.
    const std::string cmd = "dcm2niix -z n -b n -o " + out.string() + " " + series + " >/dev/null 2>&1";
    t0 = Clock::now();
    if (sh(cmd) != 0) {
      std::cerr << "bench_ingest: dcm2niix failed (install dcm2niix)\n";
      return 3;
    }
    dcm2niix_s = std::min(dcm2niix_s, seconds_since(t0));

    // The like-for-like command: the medsynth binary (process start included) writing .nii.
    if (!medsynth_binary.empty()) {
      const std::string conv = medsynth_binary + " convert --force " + series + " " +
                               (out / "medsynth.nii").string() + " >/dev/null 2>&1";
      t0 = Clock::now();
      if (sh(conv) != 0) {
        std::cerr << "bench_ingest: medsynth convert failed\n";
        return 3;
      }
      cli_s = std::min(cli_s, seconds_since(t0));
    }
  }
  std::printf("series: %s (%zu slices), best of %d\n", series.c_str(), slices, repeat);
  std::printf("medsynth read_volume: %.3f s\n", medsynth_s);
  std::printf("dcm2niix (to .nii):   %.3f s\n", dcm2niix_s);
  std::printf("ratio read_volume/dcm2niix: %.2f (target <= 1.0)\n", medsynth_s / dcm2niix_s);
  if (!medsynth_binary.empty()) {
    std::printf("medsynth convert (to .nii, process start included): %.3f s\n", cli_s);
    std::printf("ratio medsynth convert/dcm2niix: %.2f (target <= 1.0)\n", cli_s / dcm2niix_s);
  }
  return 0;
}
