// medsynth detect on real scans: no false positive on any volume, image or DICOM series that
// Debian's packages ship (../shared/docs/DATA.md), and its exit codes.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "medsynth/io/volume_io.h"
#include "medsynth/mark/synthetic_mark.h"
#include "test_util.h"

namespace medsynth::mark {
namespace {

using test::data_file;

// Every folder of real data in DATA.md, searched recursively by `medsynth detect FOLDER`: each
// DICOM series and each other readable file is one volume checked.
struct Folder {
  std::string path, package;
  std::vector<std::string> must_include;  // files DATA.md names, so the list cannot silently shrink
};
const std::vector<Folder> kRealData = {
    {test::kTemplates, "mricron-data",
     {"ch2.nii.gz", "ch2bet.nii.gz", "ch2better.nii.gz", "aal.nii.gz", "brodmann.nii.gz",
      "HarvardOxford-cort-maxprob-thr0-1mm.nii.gz", "JHU-WhiteMatter-labels-1mm.nii.gz",
      "JHU-WhiteMatter-labels-2mm.nii.gz", "AICHAmc.nii.gz", "jhu189.nii.gz", "natbrainlab.nii.gz"}},
    {test::kItkData, "insighttoolkit5-examples",
     {"KmeansTest_T1UCharRaw.nii.gz", "KmeansTest_T1RawSkullStrip.nii.gz", "KmeansTest_T1KmeansPrelimSegmentation.nii.gz",
      "BrainT1Slice.png", "BrainProtonDensitySlice.png", "BrainProtonDensitySlice256x256.png",
      "BrainProtonDensitySliceShifted13x17y.png", "BrainProtonDensitySliceRotated10.png", "BrainProtonDensity3Slices.mha",
      "BrainMidSagittalSlice.png", "FatMRISlice.png", "BrainT1SliceBorder20DirectionPlus30.mhd",
      "BrainProtonDensitySliceBorder20DirectionPlus30.nhdr"}},
    // MR_small and its encodings, CT_small, and every other series among pydicom's test files.
    {test::kPydicomData, "python3-pydicom", {"[series "}},
    // example4d.nii.gz and example_nifti2.nii.gz are 4-D and nifti1.hdr lacks its .img: the readers
    // refuse them (a warning names each), so they are not among the volumes checked.
    {test::kNibabelData, "python3-nibabel", {"anatomical.nii", "standard.nii.gz", "resampled_anat_moved.nii"}},
    // 0.dcm, 1.dcm, decimal_rescale.dcm, slicethickness_empty_string.dcm, the Siemens DWI files.
    {test::kNicomData, "python3-nibabel", {"[series "}},
};

TEST(DetectFalsePositives, NoMarkInAnyRealVolumeOrDicomSeriesDebianShips) {
  int volumes = 0;
  double highest = 0;
  std::string highest_name;
  for (const auto& f : kRealData) {
    data_file(f.path, f.package);
    const auto r = test::run_medsynth("detect " + f.path, 300);
    EXPECT_EQ(r.exit_code, 4) << f.path << " (4: no volume marked)\n" << r.out << r.err;
    std::istringstream lines(r.out);
    std::string line;
    int here = 0;
    while (std::getline(lines, line)) {
      ++here;
      EXPECT_NE(line.find(": no mark found (score "), std::string::npos) << line;
      const double score = std::stod(line.substr(line.rfind("(score ") + 7));
      if (score > highest) {
        highest = score;
        highest_name = line.substr(0, line.rfind(": no mark"));
      }
    }
    for (const auto& name : f.must_include) EXPECT_NE(r.out.find(name), std::string::npos) << name << " not checked";
    std::printf("[detect] %-60s %3d volumes checked, none marked\n", f.path.c_str(), here);
    volumes += here;
  }
  std::printf("[detect] false positives: 0 of %d real volumes; highest score %.1f (%s)\n", volumes, highest,
              highest_name.c_str());
  EXPECT_GE(volumes, 80);
  EXPECT_LT(highest, kMinScore);
}

TEST(DetectCommand, ExitCodesSayAllNoneOrSomeMarked) {
  test::TempDir dir;
  std::filesystem::create_directories(dir.str("mixed"));
  io::Volume v = io::read_volume(data_file(test::kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples"));
  io::write_volume(v, dir.str("mixed/real.nii.gz"));
  const auto range = io::intensity_range(v);
  embed_mark(v, current_payload(0xabcdef01), kDefaultStrength * (range.second - range.first));
  v.stored_type = io::PixelType::kFloat32;
  io::write_volume(v, dir.str("marked.nii.gz"));
  io::write_volume(v, dir.str("mixed/marked.mha"));

  const auto one = test::run_medsynth("detect " + dir.str("marked.nii.gz"));
  EXPECT_EQ(one.exit_code, 0) << one.out << one.err;
  EXPECT_NE(one.out.find("synthetic, made by medsynth " + version_text(current_payload(0)) + ", run abcdef01"),
            std::string::npos)
      << one.out;
  const auto mixed = test::run_medsynth("detect " + dir.str("mixed") + " --json");
  EXPECT_EQ(mixed.exit_code, 5) << mixed.out << mixed.err;
  EXPECT_NE(mixed.out.find("\"run_id\": \"abcdef01\""), std::string::npos) << mixed.out;
  const auto none = test::run_medsynth("detect " + dir.str("mixed/real.nii.gz"));
  EXPECT_EQ(none.exit_code, 4) << none.out;
  EXPECT_NE(none.out.find("no mark found"), std::string::npos);
  const auto missing = test::run_medsynth("detect " + dir.str("nothing.nii"));
  EXPECT_EQ(missing.exit_code, 2);
}

}  // namespace
}  // namespace medsynth::mark
