// DICOM reading on real files: a series of Colin27 written by plastimatch must give the NIfTI's
// voxels at the NIfTI's positions; pydicom's encodings must decode alike; broken folders refused.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "dicom_compare.h"
#include "test_util.h"

namespace io = medsynth::io;
using namespace medsynth::test;

namespace {

std::string first_file(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files.at(0);
}

std::vector<std::string> sorted_files(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::string small_series() {
  return plastimatch_series(data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples"),
                            "kmeans-dicom");
}

}  // namespace

TEST(DicomSeriesReader, PlastimatchSeriesOfCh2GivesNiftiVoxelsAtNiftiPositions) {
  const std::string nii = data_file(kTemplates + "ch2.nii.gz", "mricron-data");
  const io::Volume ref = io::read_volume(nii);
  const io::Volume dcm = io::read_volume(plastimatch_series(nii, "ch2-dicom"));
  EXPECT_EQ(dcm.geometry.size[2], 181u);
  EXPECT_NEAR(dcm.geometry.spacing[2], 1.0, 1e-6);
  expect_same_voxels_at_same_positions(dcm, ref);
}

TEST(DicomSeriesReader, PlastimatchSeriesOfLsaVolumeKeepsPositions) {
  const std::string nii = data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples");
  const io::Volume ref = io::read_volume(nii);
  const io::Volume dcm = io::read_volume(small_series());
  expect_same_voxels_at_same_positions(dcm, ref);
}

TEST(DicomSeriesReader, CompressedAndOtherEncodingsDecodeLikeUncompressed) {
  const io::Volume ref = io::read_volume(data_file(kPydicomData + "MR_small.dcm", "python3-pydicom"));
  // pydicom's pixel_array with the rescale applied is the independent reference.
  auto r = python(
      "import pydicom, json\n"
      "d = pydicom.dcmread('" + kPydicomData + "MR_small.dcm')\n"
      "a = d.pixel_array.astype(float) * float(getattr(d, 'RescaleSlope', 1)) + float(getattr(d, 'RescaleIntercept', 0))\n"
      "print(json.dumps(a.flatten().tolist()))\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto pix = nlohmann::json::parse(r.out);
  ASSERT_EQ(pix.size(), ref.voxels.size());
  for (std::size_t n = 0; n < ref.voxels.size(); ++n) ASSERT_EQ(ref.voxels[n], pix[n].get<double>()) << n;

  for (const char* name : {"MR_small_RLE", "MR_small_jpeg_ls_lossless", "MR_small_bigendian",
                                 "MR_small_implicit", "MR_small_expb", "MR_small_padded"}) {
    const io::Volume v = io::read_volume(data_file(kPydicomData + name + ".dcm", "python3-pydicom"));
    EXPECT_TRUE(v.geometry.same_grid(ref.geometry)) << name;
    EXPECT_EQ(v.voxels, ref.voxels) << name;
  }
}

TEST(DicomSeriesReader, JpegLosslessBaselineAndExtendedDecode) {
  // JPEG lossless, baseline and extended files are made here with dcmcjpeg from uncompressed ones
  // and must read like them (JPEG 2000: dicom_jpeg2000_test.cpp).
  TempDir tmp;
  const std::string src = data_file(kPydicomData + "CT_small.dcm", "python3-pydicom");
  const std::string jpg = tmp.str("ct_jpeg_lossless.dcm");
  auto r = run("dcmcjpeg +e1 " + src + " " + jpg);  // JPEG lossless, first-order prediction
  ASSERT_EQ(r.exit_code, 0) << "dcmcjpeg (package dcmtk): " << r.err;
  const io::Volume a = io::read_volume(src), b = io::read_volume(jpg);
  EXPECT_EQ(a.voxels, b.voxels);
  // Lossy JPEG: baseline (8-bit) and extended (12-bit). dcmcjpeg maps 16-bit data into the
  // codec's range, so values change scale: the decoded image must still be the same picture
  // (Pearson correlation near 1).
  const io::Volume c = io::read_volume(kPydicomData + "MR_small.dcm");
  for (const char* mode : {"+eb", "+ee"}) {
    const std::string lossy = tmp.str(std::string("mr") + mode + ".dcm");
    r = run(std::string("dcmcjpeg ") + mode + " " + kPydicomData + "MR_small.dcm " + lossy);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const io::Volume d = io::read_volume(lossy);
    ASSERT_EQ(c.voxels.size(), d.voxels.size());
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    const double n = double(c.voxels.size());
    for (std::size_t i = 0; i < c.voxels.size(); ++i) {
      const double x = c.voxels[i], y = d.voxels[i];
      sa += x, sb += y, saa += x * x, sbb += y * y, sab += x * y;
    }
    const double corr = (sab - sa * sb / n) / std::sqrt((saa - sa * sa / n) * (sbb - sb * sb / n));
    EXPECT_GT(corr, 0.99) << mode;
  }
}

TEST(DicomSeriesReader, ReadsSiemensFilesAndDecimalRescaleLikePydicom) {
  // nibabel's 0.dcm is a Siemens mosaic: DicomSeriesReader.MosaicTilesMatchNibabelAndDcm2niix.
  for (const std::string& f : {kNicomData + "decimal_rescale.dcm"}) {
    const io::Volume v = io::read_volume(data_file(f, "python3-nibabel"));
    auto r = python(
        "import pydicom, json\n"
        "d = pydicom.dcmread('" + f + "')\n"
        "a = d.pixel_array.astype(float) * float(getattr(d, 'RescaleSlope', 1)) + float(getattr(d, 'RescaleIntercept', 0))\n"
        "print(json.dumps([float(a.min()), float(a.max()), float(a.mean())]))\n");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto s = nlohmann::json::parse(r.out);
    auto [lo, hi] = io::intensity_range(v);
    double mean = 0;
    for (float x : v.voxels) mean += x;
    mean /= double(v.voxels.size());
    EXPECT_NEAR(lo, s[0].get<double>(), 1e-3) << f;
    EXPECT_NEAR(hi, s[1].get<double>(), 1e-3) << f;
    EXPECT_NEAR(mean, s[2].get<double>(), 1e-3 * std::max(1.0, std::fabs(mean))) << f;
  }
}

TEST(DicomSeriesReader, FolderTreeWithTwoSeriesListsThemAndReadsTheChosenOne) {
  TempDir tmp;
  copy_tree(small_series(), tmp.str("tree/a/kmeans"));
  copy_tree(plastimatch_series(kTemplates + "ch2.nii.gz", "ch2-dicom"), tmp.str("tree/b/deeper/ch2"));
  const auto series = io::list_dicom_series(tmp.str("tree"));
  ASSERT_EQ(series.size(), 2u);
  try {
    io::read_volume(tmp.str("tree"));
    FAIL() << "two series were mixed into one volume";
  } catch (const io::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("2 series"), std::string::npos) << msg;
    EXPECT_NE(msg.find(series[0].series_uid), std::string::npos) << msg;
    EXPECT_NE(msg.find(series[1].series_uid), std::string::npos) << msg;
  }
  for (std::size_t n = 0; n < 2; ++n) {
    io::ReadOptions by_number, by_uid;
    by_number.series = std::to_string(n + 1);
    by_uid.series = series[n].series_uid;
    const io::Volume a = io::read_volume(tmp.str("tree"), by_number);
    const io::Volume b = io::read_volume(tmp.str("tree"), by_uid);
    EXPECT_EQ(a.geometry.size[2], series[n].files.size());
    EXPECT_EQ(a.voxels, b.voxels);
  }
}

TEST(DicomSeriesReader, RefusesFolderWithMissingSlice) {
  TempDir tmp;
  copy_tree(small_series(), tmp.str("s"));
  auto files = sorted_files(tmp.str("s"));
  // Which file is in the middle of the stack does not depend on names: remove by position.
  const io::Volume full = io::read_volume(tmp.str("s"));
  fs::remove(files[files.size() / 2]);
  try {
    io::read_volume(tmp.str("s"));
    FAIL() << "a series with a missing slice was read";
  } catch (const io::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing slice"), std::string::npos) << e.what();
  }
  (void)full;
}

TEST(DicomSeriesReader, RefusesTwoSlicesAtOnePosition) {
  TempDir tmp;
  copy_tree(small_series(), tmp.str("s"));
  auto files = sorted_files(tmp.str("s"));
  const std::string dup = tmp.str("s/zz-duplicate.dcm");
  fs::copy_file(files[5], dup);
  auto r = run("dcmodify -nb -m '(0008,0018)=1.2.826.0.1.3680043.2.1125.999.1' " + dup);
  ASSERT_EQ(r.exit_code, 0) << "dcmodify (package dcmtk): " << r.err;
  try {
    io::read_volume(tmp.str("s"));
    FAIL() << "a series with two slices at one position was read";
  } catch (const io::Error& e) {
    EXPECT_NE(std::string(e.what()).find("two slices at one position"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("zz-duplicate.dcm"), std::string::npos) << e.what();
  }
}

TEST(DicomSeriesReader, RefusesMixedImageSizesInOneSeries) {
  TempDir tmp;
  const std::string big = plastimatch_series(kTemplates + "ch2.nii.gz", "ch2-dicom");
  copy_tree(small_series(), tmp.str("s"));
  // A 181x217 slice of another volume, relabelled into the 128x128 series.
  const std::string uid = io::list_dicom_series(tmp.str("s")).at(0).series_uid;
  const std::string odd = tmp.str("s/odd.dcm");
  fs::copy_file(first_file(big), odd);
  auto r = run("dcmodify -nb -m '(0020,000e)=" + uid + "' " + odd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  try {
    io::read_volume(tmp.str("s"));
    FAIL() << "a series with mixed sizes was read";
  } catch (const io::Error& e) {
    EXPECT_NE(std::string(e.what()).find("mixed image sizes"), std::string::npos) << e.what();
  }
}

TEST(DicomSeriesReader, SkipsNonDicomFilesInAFolder) {
  TempDir tmp;
  copy_tree(small_series(), tmp.str("s"));
  std::ofstream(tmp.str("s/README.txt")) << "notes about this study\n";
  std::ofstream(tmp.str("s/empty.dcm"));
  std::vector<std::string> skipped;
  auto series = io::list_dicom_series(tmp.str("s"), &skipped);
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].files.size(), 62u);
  EXPECT_EQ(io::read_volume(tmp.str("s")).geometry.size[2], 62u);
}

TEST(DicomSeriesReader, ShortSeriesWithOneMissingIsCalledMissingNotUneven) {
  TempDir tmp;
  auto files = sorted_files(small_series());
  // Slices 10, 11 and 13 of the stack: gaps of 3 and 6 mm, slice 12 missing.
  fs::create_directories(tmp.str("s"));
  const io::Volume full = io::read_volume(small_series());
  for (int k : {10, 11, 13}) {
    // Find the files at these slices of the stacked volume by their origin.
    const auto want = full.geometry.index_to_physical(0, 0, k);
    for (const auto& f : files) {
      const auto o = io::read_volume(f).geometry.origin;
      if (std::fabs(o[0] - want[0]) + std::fabs(o[1] - want[1]) + std::fabs(o[2] - want[2]) < 1e-3) {
        fs::copy_file(f, tmp.str("s/" + std::to_string(k) + ".dcm"));
      }
    }
  }
  try {
    io::read_volume(tmp.str("s"));
    FAIL() << "slices 10, 11 and 13 were stacked without slice 12";
  } catch (const io::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing slice"), std::string::npos) << e.what();
  }
}
