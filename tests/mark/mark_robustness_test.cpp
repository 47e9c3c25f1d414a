// The synthetic mark after what happens to files outside medsynth: headers stripped (nibabel,
// pydicom), 8-bit PNG slices, noise, intensity scaling, cropping, resampling. Real volumes are
// marked as a synthetic output is (float voxels, strength x range), so no training is needed.
// Each test prints its detection rate: per volume, and per single slice where it applies.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "medsynth/io/volume_io.h"
#include "medsynth/mark/synthetic_mark.h"
#include "test_util.h"

namespace medsynth::mark {
namespace {

using test::data_file;
using test::TempDir;

constexpr std::uint32_t kRunId = 0x5eed1234;
constexpr int kPngStep = 6;    // every 6th axial slice exported as PNG
constexpr int kSliceStep = 6;  // and checked alone in the NIfTI variants

struct Marked {
  std::string name, path;
};

class MarkRobustness : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>();
    io::Volume v = io::read_volume(data_file(test::kTemplates + "ch2bet.nii.gz", "mricron-data"));
    const auto r = io::intensity_range(v);
    embed_mark(v, current_payload(kRunId), kDefaultStrength * (r.second - r.first));
    v.stored_type = io::PixelType::kFloat32;  // as a sampled volume is
    marked_ = dir_->str("marked.nii");
    io::write_volume(v, marked_);
    const auto made = test::run(test::kPython + " " + MEDSYNTH_SOURCE_DIR "/tests/mark/make_variants.py volumes " +
                                    marked_ + " " + dir_->str() + " " + std::to_string(kPngStep),
                                300);
    ASSERT_EQ(made.exit_code, 0) << made.err;
  }
  static void TearDownTestSuite() { dir_.reset(); }

  // Detects the mark in the whole volume and in every kSliceStep-th axial slice alone.
  static void check_volume_and_slices(const std::string& file, const std::string& what, double min_slice_rate) {
    const io::Volume v = io::read_volume(dir_->str(file));
    const Detection d = detect_mark(v);
    EXPECT_TRUE(d.found) << what << ": score " << d.score;
    EXPECT_TRUE(d.payload_valid) << what;
    EXPECT_EQ(d.payload.run_id, kRunId) << what;
    int found = 0, payload = 0, n = 0;
    std::string missed;
    for (std::size_t k = kSliceStep / 2; k < v.geometry.size[2]; k += kSliceStep) {
      const Detection s = detect_mark(io::extract_slice(v, k, file));
      ++n;
      found += s.found;
      if (!s.found) missed += " " + std::to_string(k) + " (" + std::to_string(s.score).substr(0, 4) + ")";
      payload += s.found && s.payload_valid && s.payload.run_id == kRunId;
    }
    std::printf("[mark] %-28s volume: %s (score %.1f, scale %.3f)  single slices: found %d/%d (%.0f%%), payload %d/%d\n",
                what.c_str(), d.found && d.payload_valid ? "found, payload read" : d.found ? "found" : "NOT FOUND", d.score,
                d.scale, found, n, 100.0 * found / n, payload, n);
    if (!missed.empty()) std::printf("[mark]   slices missed (score):%s\n", missed.c_str());
    EXPECT_GE(static_cast<double>(found) / n, min_slice_rate) << what;
  }

  static std::unique_ptr<TempDir> dir_;
  static std::string marked_;
};
std::unique_ptr<TempDir> MarkRobustness::dir_;
std::string MarkRobustness::marked_;

TEST_F(MarkRobustness, FoundAfterNibabelRewroteTheHeader) {
  check_volume_and_slices("stripped.nii.gz", "NIfTI re-written by nibabel", 0.95);
}

TEST_F(MarkRobustness, FoundAfterNoiseOfOnePercentOfTheRange) {
  check_volume_and_slices("noise1pct.nii", "noise sigma = 1% of range", 0.8);
}

TEST_F(MarkRobustness, FoundAfterIntensityScaling) {
  check_volume_and_slices("intensity110.nii", "intensity x 1.1", 0.95);
  check_volume_and_slices("intensity090.nii", "intensity x 0.9", 0.95);
}

TEST_F(MarkRobustness, FoundAfterCroppingTo80PercentOfTheFieldOfView) {
  check_volume_and_slices("crop80.nii", "cropped to 80% of the FOV", 0.9);
}

TEST_F(MarkRobustness, FoundAfterResamplingTo08And125TimesTheSpacing) {
  check_volume_and_slices("spacing080.nii", "resampled to 0.8x spacing", 0.8);
  check_volume_and_slices("spacing125.nii", "resampled to 1.25x spacing", 0.8);
}

TEST_F(MarkRobustness, FoundInEach8BitPngSliceByTheDetectCommand) {
  const auto r = test::run_medsynth("detect " + dir_->str("png"), 300);
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 5) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int n = 0, found = 0, payload = 0;
  while (std::getline(lines, line)) {
    ++n;
    found += line.find(": synthetic, made by medsynth") != std::string::npos;
    payload += line.find("run " + run_id_text(kRunId)) != std::string::npos;
  }
  std::printf("[mark] %-28s PNG slices: found %d/%d (%.0f%%), payload %d/%d\n", "8-bit PNG export", found, n,
              100.0 * found / n, payload, n);
  EXPECT_GE(n, 25);
  EXPECT_GE(static_cast<double>(found) / n, 0.95) << r.out;
}

TEST_F(MarkRobustness, FoundInDicomRewrittenByPydicomWithoutSyntheticAttributes) {
  const auto conv = test::run_medsynth("convert " + marked_ + " " + dir_->str("dicom") + " --to dicom", 300);
  ASSERT_EQ(conv.exit_code, 0) << conv.err;
  const auto strip = test::run(test::kPython + " " + MEDSYNTH_SOURCE_DIR "/tests/mark/make_variants.py strip-dicom " +
                               dir_->str("dicom") + " " + dir_->str("dicom-stripped"));
  ASSERT_EQ(strip.exit_code, 0) << strip.err;
  // Nothing in the files says synthetic any more (DICOM text is plain bytes).
  const auto grep = test::run("grep -ril synth " + dir_->str("dicom-stripped") + " | wc -l");
  EXPECT_EQ(grep.out, "0\n") << "files still naming synthetic or medsynth";
  const auto r = test::run_medsynth("detect " + dir_->str("dicom-stripped"), 300);
  std::printf("[mark] %-28s %s", "DICOM re-written by pydicom", r.out.c_str());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("synthetic, made by medsynth " + version_text(current_payload(0)) + ", run " + run_id_text(kRunId)),
            std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace medsynth::mark
