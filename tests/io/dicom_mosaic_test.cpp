// Siemens mosaic DICOM: nibabel's real Siemens files (0.dcm with pixels, the DWI pair b=0 and
// b=1000, csa_slice_norm.dcm with a tilted slice normal) against dcm2niix and nibabel's
// MosaicWrapper, and mosaics whose tile count is inconsistent.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dicom_compare.h"
#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "test_util.h"

namespace io = medsynth::io;
using namespace medsynth::test;

namespace {

std::string error_of(const std::string& path, const io::ReadOptions& o = {}) {
  try {
    io::read_volume(path, o);
  } catch (const io::Error& e) {
    return e.what();
  }
  return "(read without error)";
}

// nibabel's MosaicWrapper of `file`: [affine (LPS, index order row, column, slice)].
nlohmann::json nibabel_mosaic(const std::string& file) {
  auto r = python("import nibabel.nicom.dicomwrappers as w, json, warnings\n"
                  "warnings.simplefilter('ignore')\n"
                  "m = w.wrapper_from_file('" + file + "')\n"
                  "print(json.dumps([m.affine.tolist()]))\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

// medsynth's index (i = column, j = row, k) maps where nibabel's affine maps (j, i, k).
void expect_affine_matches_nibabel(const io::Volume& v, const nlohmann::json& affine) {
  const auto& g = v.geometry;
  for (double k : {0.0, double(g.size[2] - 1)}) {
    for (double i : {0.0, double(g.size[0] - 1)}) {
      const double j = double(g.size[1] - 1) / 2;
      const auto p = g.index_to_physical(i, j, k);
      for (std::size_t d = 0; d < 3; ++d) {
        const double q = affine[d][0].get<double>() * j + affine[d][1].get<double>() * i +
                         affine[d][2].get<double>() * k + affine[d][3].get<double>();
        EXPECT_NEAR(p[d], q, 1e-3) << "axis " << d << " at " << i << "," << j << "," << k;
      }
    }
  }
}

// A copy of a gzipped nibabel file in `dir`.
std::string unzip_to(const std::string& gz_name, const std::string& dir) {
  fs::create_directories(dir);
  const std::string out = dir + "/" + gz_name.substr(0, gz_name.size() - 3);
  EXPECT_EQ(run("zcat " + data_file(kNicomData + gz_name, "python3-nibabel") + " > " + out).exit_code, 0);
  return out;
}

}  // namespace

TEST(DicomSeriesReader, MosaicTilesMatchNibabelAndDcm2niix) {
  TempDir tmp;
  // 0.dcm: a 256x256 mosaic of 48 tiles of 36x36 on a 7x7 grid (256 is not a multiple of 7: the
  // tiles fill 252 columns and rows). pydicom's crop of it to 252x252 has the same tiles, and
  // there nibabel and dcm2niix cut them too (on the 256-wide original, nibabel cannot reshape
  // and dcm2niix steps rows by 252 pixels, so only their geometry is compared there).
  fs::create_directories(tmp.str("m")), fs::create_directories(tmp.str("c"));
  fs::copy_file(data_file(kNicomData + "0.dcm", "python3-nibabel"), tmp.str("m/0.dcm"));
  auto r = python("import pydicom\n"
                  "d = pydicom.dcmread('" + tmp.str("m/0.dcm") + "')\n"
                  "a = d.pixel_array[:252, :252].copy()\n"
                  "d.Rows, d.Columns = 252, 252\n"
                  "d.PixelData = a.tobytes()\n"
                  "d.save_as('" + tmp.str("c/0c.dcm") + "')\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const io::Volume v = io::read_volume(tmp.str("m/0.dcm"));
  const io::Volume c = io::read_volume(tmp.str("c/0c.dcm"));
  EXPECT_EQ(v.geometry.size, (std::array<std::size_t, 3>{36, 36, 48}));
  EXPECT_EQ(v.voxels, c.voxels);
  std::size_t nonzero = 0;
  for (float x : v.voxels) nonzero += x != 0;
  EXPECT_GT(nonzero, 1000u) << "the tiles hold real pixels";
  expect_affine_matches_nibabel(v, nibabel_mosaic(tmp.str("m/0.dcm"))[0]);
  expect_same_voxels_at_same_positions(v, io::read_volume(dcm2niix_volume(tmp.str("m"), tmp)), 1e30);
  // The crop: voxels and positions as nibabel's MosaicWrapper and dcm2niix give them.
  expect_affine_matches_nibabel(c, nibabel_mosaic(tmp.str("c/0c.dcm"))[0]);
  expect_same_voxels_at_same_positions(c, io::read_volume(dcm2niix_volume(tmp.str("c"), tmp, -1, "crop")));
  r = python("import nibabel.nicom.dicomwrappers as w, json, warnings\n"
             "warnings.simplefilter('ignore')\n"
             "print(json.dumps(w.wrapper_from_file('" + tmp.str("c/0c.dcm") + "').get_data().transpose(2, 0, 1).flatten().tolist()))\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto nib = nlohmann::json::parse(r.out);
  ASSERT_EQ(nib.size(), c.voxels.size());
  std::size_t mismatches = 0;
  for (std::size_t n = 0; n < c.voxels.size(); ++n) mismatches += c.voxels[n] != nib[n].get<double>();
  EXPECT_EQ(mismatches, 0u);
}

TEST(DicomSeriesReader, MosaicDiffusionPairIsFourDimensionalAlongTheBValue) {
  TempDir tmp;
  const std::string b0 = unzip_to("siemens_dwi_0.dcm.gz", tmp.str("dwi"));
  unzip_to("siemens_dwi_1000.dcm.gz", tmp.str("dwi"));
  const auto series = io::list_dicom_series(tmp.str("dwi"));
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].frames, 96u);
  EXPECT_EQ(series[0].volumes, 2u);
  std::string varies;
  for (const auto& s : series[0].varies) varies += s + "; ";
  EXPECT_NE(varies.find("B_value (CSA): 0, 1000"), std::string::npos) << varies;
  const std::string e = error_of(tmp.str("dwi"));
  EXPECT_NE(e.find("4-D series of 2 volumes"), std::string::npos) << e;
  EXPECT_NE(e.find("B_value"), std::string::npos) << e;
  for (int t = 0; t < 2; ++t) {
    io::ReadOptions o;
    o.volume = t;
    const io::Volume v = io::read_volume(tmp.str("dwi"), o);
    EXPECT_EQ(v.geometry.size, (std::array<std::size_t, 3>{128, 128, 48}));
    // nibabel keeps these files' pixels as zeros: the positions are what is checked.
    expect_same_voxels_at_same_positions(v, io::read_volume(dcm2niix_volume(tmp.str("dwi"), tmp, t)));
    if (t == 0) expect_affine_matches_nibabel(v, nibabel_mosaic(b0)[0]);
  }
}

TEST(DicomSeriesReader, MosaicFollowsTheCsaSliceNormal) {
  TempDir tmp;
  // csa_slice_norm.dcm is a header only (no Pixel Data); pydicom adds zero pixels to read it.
  fs::create_directories(tmp.str("n"));
  const std::string f = tmp.str("n/csa_slice_norm.dcm");
  auto r = python("import pydicom, numpy as np\n"
                  "d = pydicom.dcmread('" + data_file(kNicomData + "csa_slice_norm.dcm", "python3-nibabel") + "')\n"
                  "d.BitsAllocated, d.BitsStored, d.HighBit, d.PixelRepresentation = 16, 12, 11, 0\n"
                  "d.SamplesPerPixel, d.PhotometricInterpretation = 1, 'MONOCHROME2'\n"
                  "d.PixelData = np.zeros((d.Rows, d.Columns), np.uint16).tobytes()\n"
                  "d['PixelData'].VR = 'OW'\n"
                  "d.save_as('" + f + "')\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const io::Volume v = io::read_volume(f);
  EXPECT_EQ(v.geometry.size, (std::array<std::size_t, 3>{64, 64, 32}));
  expect_affine_matches_nibabel(v, nibabel_mosaic(f)[0]);
  expect_same_voxels_at_same_positions(v, io::read_volume(dcm2niix_volume(tmp.str("n"), tmp)));
}

TEST(BadInput, MosaicWhoseTileCountsDisagreeIsRefused) {
  TempDir tmp;
  const std::string b0 = unzip_to("siemens_dwi_0.dcm.gz", tmp.str("dwi"));
  // The CSA header says 48 images; the private (0019,100A) is made to say 60.
  auto r = python("import pydicom\n"
                  "d = pydicom.dcmread('" + b0 + "')\n"
                  "d[0x0019, 0x100a].value = 60\n"
                  "d.save_as('" + b0 + "')\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string e = error_of(b0);
  EXPECT_NE(e.find("NumberOfImagesInMosaic is 48 in the CSA header but 60 in (0019,100A)"), std::string::npos) << e;
  // Without either count the tiles cannot be cut.
  r = python("import pydicom\n"
             "d = pydicom.dcmread('" + b0 + "')\n"
             "del d[0x0019, 0x100a]\n"
             "del d[0x0029, 0x1010]\n"
             "d.save_as('" + b0 + "')\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  e = error_of(b0);
  EXPECT_NE(e.find("without NumberOfImagesInMosaic"), std::string::npos) << e;
  r = run_medsynth("convert " + b0 + " " + tmp.str("out.nii.gz"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("medsynth: error: " + b0 + ": ", 0), 0u) << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("out.nii.gz")));
}
