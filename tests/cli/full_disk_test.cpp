// Outputs written onto a file system that runs out of space (a small tmpfs; needs root, as CI
// runs): a volume, a DICOM export and an evaluation report each fail with exit code 3 and an
// error naming the output, and leave nothing behind (every output is written under a temporary
// name beside it and renamed). The same commands succeed once there is room.
#include <gtest/gtest.h>

#include <algorithm>

#include "small_filesystem.h"
#include "test_util.h"

using namespace medsynth::test;

namespace {

struct Case {
  std::string name, command;  // command with OUT for the output path
  std::string output;         // output name on the small file system
};

void expect_clean_failure_then_success(const Case& c) {
  SCOPED_TRACE(c.name);
  SmallFilesystem small(32u << 20);
  if (!small.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (" << small.error() << "); needs root, as in CI";
  small.fill("filler", 48u << 10);
  const std::string out = small.str(c.output);
  std::string cmd = c.command;
  cmd.replace(cmd.find("OUT"), 3, out);
  auto r = run_medsynth(cmd, 300);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.err.rfind("medsynth: error: " + out, 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line expected: " << r.err;
  EXPECT_EQ(small.entries("filler"), std::vector<std::string>{}) << "a partial output was left";
  // With room, the same command writes it.
  fs::remove(small.str("filler"));
  r = run_medsynth(cmd, 300);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(out));
}

}  // namespace

// ITK's KmeansTest volume (128 x 128 x 62 uint8).
std::string kmeans() { return data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples"); }

TEST(FullDisk, AVolumeThatDoesNotFitFailsNamingItAndLeavesNothing) {
  expect_clean_failure_then_success({"volume", "convert " + kmeans() + " OUT --type float32", "kmeans.nii"});
}

TEST(FullDisk, ADicomExportThatDoesNotFitFailsNamingItAndLeavesNothing) {
  expect_clean_failure_then_success({"dicom", "convert " + kmeans() + " OUT --to dicom", "dicom"});
}

TEST(FullDisk, AReportThatDoesNotFitFailsNamingItAndLeavesNothing) {
  expect_clean_failure_then_success(
      {"report", "evaluate --real " + kmeans() + " --synthetic " + kmeans() + " --out OUT", "report"});
}
