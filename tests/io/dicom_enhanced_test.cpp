// Enhanced multi-frame DICOM: Philips' Enhanced MR file that nibabel ships, and Enhanced MR files
// of a known volume written by pydicom (tests/io/make_enhanced_mr.py) with shuffled frames,
// per-frame rescale, stacks, echoes and temporal positions; dcm2niix's NIfTI is the reference.
#include <gtest/gtest.h>

#include <cmath>

#include "dicom_compare.h"
#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "test_util.h"

namespace io = medsynth::io;
using namespace medsynth::test;

namespace {

const std::string kKmeans = kItkData + "KmeansTest_T1UCharRaw.nii.gz";

// An Enhanced MR file of KmeansTest made by pydicom in `dir`/name.dcm; `args` go to the maker.
std::string make_enhanced(const TempDir& tmp, const std::string& name, const std::string& args = "") {
  const std::string dir = tmp.str(name);
  fs::create_directories(dir);
  const std::string out = dir + "/" + name + ".dcm";
  auto r = run(kPython + " " + MEDSYNTH_SOURCE_DIR + "/tests/io/make_enhanced_mr.py " +
               data_file(kKmeans, "insighttoolkit5-examples") + " " + out + " " + args);
  EXPECT_EQ(r.exit_code, 0) << "make_enhanced_mr.py (python3-pydicom, python3-nibabel): " << r.err;
  return out;
}

io::Volume plus(io::Volume v, float add) {
  for (auto& x : v.voxels) x += add;
  return v;
}

std::string error_of(const std::string& path, const io::ReadOptions& o = {}) {
  try {
    io::read_volume(path, o);
  } catch (const io::Error& e) {
    return e.what();
  }
  return "(read without error)";
}

}  // namespace

TEST(DicomSeriesReader, EnhancedMrWithShuffledFramesAndPerFrameRescaleGivesTheVolume) {
  TempDir tmp;
  const std::string file = make_enhanced(tmp, "enh");
  const io::Volume ref = io::read_volume(kKmeans);
  const io::Volume v = io::read_volume(file);
  EXPECT_EQ(v.geometry.size[2], 62u);
  expect_same_voxels_at_same_positions(v, ref);
  // dcm2niix ignores a per-frame rescale outside Philips files (it keeps the stored values), so
  // it is compared on a file with one rescale: the same voxels at the same positions.
  const std::string uniform = make_enhanced(tmp, "uniform", "--uniform-rescale");
  const io::Volume u = io::read_volume(uniform);
  expect_same_voxels_at_same_positions(u, ref);
  expect_same_voxels_at_same_positions(u, io::read_volume(dcm2niix_volume(tmp.str("uniform"), tmp)));
}

TEST(DicomSeriesReader, PhilipsEnhancedMprageMatchesDcm2niixGeometry) {
  TempDir tmp;
  const std::string gz = data_file(kNicomData + "philips_mprage.dcm.gz", "python3-nibabel");
  fs::create_directories(tmp.str("ph"));
  ASSERT_EQ(run("zcat " + gz + " > " + tmp.str("ph/philips_mprage.dcm")).exit_code, 0);
  const io::Volume v = io::read_volume(tmp.str("ph"));
  EXPECT_EQ(v.geometry.size, (std::array<std::size_t, 3>{256, 256, 176}));
  EXPECT_EQ(v.metadata.at("modality"), "MR");
  // nibabel keeps this file's pixels as zeros, so the voxel check is weak; every position is not.
  expect_same_voxels_at_same_positions(v, io::read_volume(dcm2niix_volume(tmp.str("ph"), tmp)), 1e-6);
  // nibabel 5.0's MultiframeWrapper ("highly experimental") puts the last slices elsewhere
  // (it steps from the first frame along +normal while the frames run along -normal): not used.
}

TEST(DicomSeriesReader, EnhancedStacksAndEchoesAreListedAsSeriesAndTimeIsAFourthDimension) {
  TempDir tmp;
  const std::string file = make_enhanced(tmp, "enh4", "--volumes 3 --stacks 2 --echoes 2");
  const auto series = io::list_dicom_series(file);
  ASSERT_EQ(series.size(), 4u);
  EXPECT_EQ(series[0].part, "stack 1, echo 10");
  EXPECT_EQ(series[3].part, "stack 2, echo 20");
  EXPECT_EQ(series[1].volumes, 3u);
  ASSERT_EQ(series[1].varies.size(), 1u);
  EXPECT_EQ(series[1].varies[0], "TemporalPositionIndex: 1, 2, 3");
  const std::string several = error_of(file);
  EXPECT_NE(several.find("holds 4 series"), std::string::npos) << several;
  io::ReadOptions o;
  o.series = "4";
  const std::string four_d = error_of(file, o);
  EXPECT_NE(four_d.find("4-D series of 3 volumes"), std::string::npos) << four_d;
  EXPECT_NE(four_d.find("TemporalPositionIndex"), std::string::npos) << four_d;
  EXPECT_NE(four_d.find("--volume"), std::string::npos) << four_d;
  const io::Volume ref = io::read_volume(kKmeans);
  // Series 4 is stack 2 (+1000), echo 20 (+100); volume 2 adds 20.
  o.volume = 2;
  expect_same_voxels_at_same_positions(io::read_volume(file, o), plus(ref, 1120));
  o.series = "1", o.volume = 0;
  expect_same_voxels_at_same_positions(io::read_volume(file, o), ref);
  o.volume = 3;
  EXPECT_NE(error_of(file, o).find("outside 0..2"), std::string::npos) << error_of(file, o);
  o.series = series[0].series_uid, o.volume = 0;
  EXPECT_NE(error_of(file, o).find("choose one by its number"), std::string::npos) << error_of(file, o);
}

TEST(DicomSeriesReader, EnhancedTimeSeriesVolumesMatchTheSourceAndDcm2niixPositions) {
  TempDir tmp;
  const std::string file = make_enhanced(tmp, "enht", "--volumes 2 --uniform-rescale --ordered");
  const io::Volume ref = io::read_volume(kKmeans);
  for (int t = 0; t < 2; ++t) {
    io::ReadOptions o;
    o.volume = t;
    const io::Volume v = io::read_volume(file, o);
    EXPECT_EQ(v.metadata.at("volumes"), "2");
    expect_same_voxels_at_same_positions(v, plus(ref, 10.0f * float(t)));
    // dcm2niix 1.0.20220720 puts these frames at the right positions but mixes up which frame
    // goes to which slice and volume (seen with shuffled and with ordered frames), so only its
    // positions are compared here.
    expect_same_voxels_at_same_positions(v, io::read_volume(dcm2niix_volume(tmp.str("enht"), tmp, t)), 1e30);
  }
}

TEST(BadInput, EnhancedFilesWithMissingGroupsFramesOrMixedSizesAreRefused) {
  TempDir tmp;
  // One frame without its Plane Position functional group.
  const std::string no_pos = make_enhanced(tmp, "nopos", "--drop-position 5");
  std::string e = error_of(no_pos);
  EXPECT_NE(e.find(no_pos), std::string::npos) << e;
  EXPECT_NE(e.find("frame 6 of 62 has no ImagePositionPatient in a Plane Position (Patient) functional group"),
            std::string::npos) << e;
  // NumberOfFrames claims more frames than the per-frame groups describe.
  const std::string claim = make_enhanced(tmp, "claim", "--claim-frames 70");
  e = error_of(claim);
  EXPECT_NE(e.find("PerFrameFunctionalGroupsSequence holds 62 items for NumberOfFrames 70"), std::string::npos) << e;
  // Two enhanced files of one series with frames of different sizes.
  const std::string a = make_enhanced(tmp, "mixed", "--series-uid 1.2.826.0.1.3680043.2.1125.77.1");
  auto r = run(kPython + " " + MEDSYNTH_SOURCE_DIR + "/tests/io/make_enhanced_mr.py " + kKmeans + " " +
               tmp.str("mixed/cropped.dcm") + " --crop 64 --series-uid 1.2.826.0.1.3680043.2.1125.77.1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  e = error_of(tmp.str("mixed"));
  EXPECT_NE(e.find("mixed image sizes in one series"), std::string::npos) << e;
  (void)a;
  // Through the CLI: exit 2, one line, no output left.
  r = run_medsynth("convert " + no_pos + " " + tmp.str("out.nii.gz"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("medsynth: error: ", 0), 0u) << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("out.nii.gz")));
}
