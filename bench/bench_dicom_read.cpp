// DICOM reading speed on the two layouts of issue 14, against dcm2niix on the same input, in one
// run, as ratios: nibabel's 176-frame Philips Enhanced MR file (one file, per-frame functional
// groups) and a 181-file classic series of Colin27 written by plastimatch.
// usage: bench_dicom_read [--repeat N]
// For each input: medsynth's library call (read_volume), medsynth convert writing .nii (process
// start included), and dcm2niix -z n -b n (writes .nii, process start included); best of N.
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

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int sh(const std::string& cmd) { return std::system(cmd.c_str()); }

struct Input {
  std::string name, dir;  // dcm2niix and medsynth both get the folder
};

}  // namespace

int main(int argc, char** argv) {
  int repeat = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--repeat" && i + 1 < argc) {
      repeat = std::atoi(argv[++i]);
    } else {
      std::cerr << "usage: bench_dicom_read [--repeat N]\n";
      return 1;
    }
  }
  // The medsynth binary sits beside this one in the build tree (bench/ and pipeline/).
  const fs::path medsynth = fs::canonical("/proc/self/exe").parent_path().parent_path() / "pipeline" / "medsynth";
  const fs::path work = fs::temp_directory_path() / "medsynth-bench-dicom-read";
  fs::create_directories(work);

  const fs::path philips = work / "philips-enhanced";
  if (!fs::exists(philips / "philips_mprage.dcm")) {
    fs::create_directories(philips);
    const std::string gz = "/usr/lib/python3/dist-packages/nibabel/nicom/tests/data/philips_mprage.dcm.gz";
    if (sh("gzip -dc " + gz + " > " + (philips / "philips_mprage.dcm").string()) != 0) {
      std::cerr << "bench_dicom_read: cannot unpack " << gz << " (install python3-nibabel)\n";
      return 3;
    }
  }
  const fs::path classic = work / "ch2-classic";
  if (!fs::exists(classic)) {
    const std::string cmd = "plastimatch convert --input /usr/share/mricron/templates/ch2.nii.gz --output-dicom " +
                            classic.string() + " >/dev/null 2>&1";
    if (sh(cmd) != 0) {
      std::cerr << "bench_dicom_read: plastimatch failed (install plastimatch and mricron-data)\n";
      return 3;
    }
  }
  const std::vector<Input> inputs = {{"Philips Enhanced MR, 1 file of 176 frames", philips.string()},
                                     {"classic series, 181 files (plastimatch, ch2)", classic.string()}};
  std::printf("best of %d; dcm2niix -z n -b n and medsynth convert both write an uncompressed .nii\n", repeat);
  for (const auto& in : inputs) {
    medsynth::io::read_volume(in.dir);  // warm the page cache for both contenders
    double lib_s = 1e30, cli_s = 1e30, d2n_s = 1e30;
    std::size_t slices = 0;
    const fs::path out = work / "out";
    for (int r = 0; r < repeat; ++r) {
      auto t0 = Clock::now();
      const auto v = medsynth::io::read_volume(in.dir);
      lib_s = std::min(lib_s, seconds_since(t0));
      slices = v.geometry.size[2];

      fs::remove_all(out);
      fs::create_directories(out);
      t0 = Clock::now();
      if (sh("dcm2niix -z n -b n -o " + out.string() + " " + in.dir + " >/dev/null 2>&1") != 0) {
        std::cerr << "bench_dicom_read: dcm2niix failed on " << in.dir << " (install dcm2niix)\n";
        return 3;
      }
      d2n_s = std::min(d2n_s, seconds_since(t0));

      t0 = Clock::now();
      if (sh(medsynth.string() + " convert --force " + in.dir + " " + (out / "medsynth.nii").string() + " >/dev/null 2>&1") != 0) {
        std::cerr << "bench_dicom_read: medsynth convert failed on " << in.dir << "\n";
        return 3;
      }
      cli_s = std::min(cli_s, seconds_since(t0));
    }
    std::printf("\n%s (%zu slices): %s\n", in.name.c_str(), slices, in.dir.c_str());
    std::printf("  medsynth read_volume:  %.3f s\n", lib_s);
    std::printf("  medsynth convert .nii: %.3f s\n", cli_s);
    std::printf("  dcm2niix .nii:         %.3f s\n", d2n_s);
    std::printf("  ratio read_volume/dcm2niix: %.2f, convert/dcm2niix: %.2f (goal: <= 1.0)\n", lib_s / d2n_s,
                cli_s / d2n_s);
  }
  return 0;
}
