// PACS speed: medsynth pushing and pulling a 181-slice series (plastimatch's series of Colin27)
// against DCMTK's storescu / getscu / movescu doing the same, in one run, against an Orthanc the
// bench starts itself on free ports. Ratios are medsynth's time over DCMTK's (process start
// included on both sides).
// usage: bench_pacs [SERIES_DIR] [--repeat N]   (without SERIES_DIR it makes one in /tmp)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>

#include "medsynth/io/volume_io.h"
#include "orthanc_server.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

// Best time of `repeat` runs of `body`, with `setup` (untimed) before each run.
double best_of(int repeat, const std::function<void()>& setup, const std::function<void()>& body) {
  double best = 1e30;
  for (int r = 0; r < repeat; ++r) {
    setup();
    const auto t0 = Clock::now();
    body();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

void must(int rc, const std::string& what) {
  if (rc != 0) {
    std::cerr << "bench_pacs: " << what << " failed\n";
    std::exit(3);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string series;
  int repeat = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--repeat" && i + 1 < argc) repeat = std::atoi(argv[++i]);
    else series = a;
  }
  const fs::path self = fs::canonical("/proc/self/exe");
  const std::string medsynth = (self.parent_path().parent_path() / "pipeline" / "medsynth").string();
  if (!fs::exists(medsynth)) {
    std::cerr << "bench_pacs: " << medsynth << " not found (build the whole project)\n";
    return 3;
  }
  const fs::path work = fs::temp_directory_path() / "medsynth-bench-pacs";
  fs::create_directories(work);
  if (series.empty()) {
    series = (fs::temp_directory_path() / "medsynth-bench-ingest" / "ch2-dicom").string();  // shared with bench_ingest
    if (!fs::exists(series)) {
      fs::create_directories(fs::path(series).parent_path());
      must(sh("plastimatch convert --input /usr/share/mricron/templates/ch2.nii.gz --output-dicom " + series),
           "plastimatch (install plastimatch and mricron-data)");
    }
  }
  const auto info = medsynth::io::list_dicom_series(series);
  if (info.size() != 1) {
    std::cerr << "bench_pacs: " << series << " must hold one series\n";
    return 2;
  }
  const std::string study = info[0].study_uid, uid = info[0].series_uid;
  const std::size_t files = info[0].files.size();

  // Push: a fresh, empty Orthanc for every run, so neither side meets Orthanc's duplicate path.
  std::unique_ptr<medsynth::test::OrthancServer> pacs;
  auto fresh = [&] {
    pacs.reset();
    pacs = std::make_unique<medsynth::test::OrthancServer>();
  };
  auto port = [&] { return std::to_string(pacs->dicom_port()); };
  const double push_dcmtk = best_of(repeat, fresh, [&] {
    must(sh("storescu -aet MEDSYNTH -aec ORTHANC +sd +r 127.0.0.1 " + port() + " " + series), "storescu");
  });
  const double push_medsynth = best_of(repeat, fresh, [&] {
    must(sh(medsynth + " pacs push --port " + port() + " " + series), "medsynth pacs push");
  });

  // Pull: one Orthanc holding the series; each run writes a fresh folder.
  fresh();
  must(sh("storescu -aet MEDSYNTH -aec ORTHANC +sd +r 127.0.0.1 " + port() + " " + series), "storescu");
  const fs::path out = work / "out";
  auto clean = [&] {
    fs::remove_all(out);
    fs::create_directories(out);
  };
  const std::string keys = " -k QueryRetrieveLevel=SERIES -k StudyInstanceUID=" + study + " -k SeriesInstanceUID=" + uid;
  const double get_dcmtk = best_of(repeat, clean, [&] {
    must(sh("getscu -aet MEDSYNTH -aec ORTHANC -S" + keys + " -od " + out.string() + " 127.0.0.1 " + port()), "getscu");
  });
  const double get_medsynth = best_of(repeat, clean, [&] {
    must(sh(medsynth + " pacs pull --port " + port() + " --series-uid " + uid + " --out " + (out / "s").string()),
         "medsynth pacs pull");
  });
  const std::string mport = std::to_string(pacs->move_port());
  const double move_dcmtk = best_of(repeat, clean, [&] {
    must(sh("movescu -aet MEDSYNTH -aec ORTHANC -aem MEDSYNTH -S +P " + mport + keys + " -od " + out.string() +
            " 127.0.0.1 " + port()),
         "movescu");
  });
  const double move_medsynth = best_of(repeat, clean, [&] {
    must(sh(medsynth + " pacs pull --method move --move-port " + mport + " --port " + port() + " --study-uid " + study +
            " --series-uid " + uid + " --out " + (out / "s").string()),
         "medsynth pacs pull --method move");
  });
  pacs.reset();
  fs::remove_all(work);

  std::printf("series: %s (%zu files), Orthanc 127.0.0.1, best of %d\n", series.c_str(), files, repeat);
  std::printf("%-34s %8s %8s %7s\n", "operation", "medsynth", "DCMTK", "ratio");
  std::printf("%-34s %7.2fs %7.2fs %7.2f\n", "push (C-STORE) vs storescu", push_medsynth, push_dcmtk, push_medsynth / push_dcmtk);
  std::printf("%-34s %7.2fs %7.2fs %7.2f\n", "pull (C-GET) vs getscu", get_medsynth, get_dcmtk, get_medsynth / get_dcmtk);
  std::printf("%-34s %7.2fs %7.2fs %7.2f\n", "pull (C-MOVE) vs movescu", move_medsynth, move_dcmtk, move_medsynth / move_dcmtk);
  return 0;
}
