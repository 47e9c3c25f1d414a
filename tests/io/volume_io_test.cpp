// NIfTI / MetaImage / NRRD / PNG reading and writing on real files, checked against nibabel and
// against the NRRD headers of the same images.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <set>

#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "test_util.h"

namespace io = medsynth::io;
using namespace medsynth::test;

namespace {

// nibabel's affine (RAS) for a file, as JSON {"affine": 4x4, "shape": [...]}.
nlohmann::json nibabel_affine(const std::string& path) {
  auto r = python(
      "import json, nibabel as nib\n"
      "img = nib.load('" + path + "')\n"
      "print(json.dumps({'affine': img.affine.tolist(), 'shape': list(img.shape)}))\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

// Every corner and 500 random voxels: LPS position from medsynth equals nibabel's RAS affine
// with x and y negated, within 1e-3 mm.
void expect_positions_match_nibabel(const std::string& path) {
  const io::Volume v = io::read_volume(path);
  const auto nb = nibabel_affine(path);
  const auto& A = nb["affine"];
  for (int a = 0; a < 3; ++a) EXPECT_EQ(v.geometry.size[a], nb["shape"][a].get<std::size_t>()) << path;
  std::mt19937 rng(1);
  std::vector<std::array<double, 3>> idx;
  for (int c = 0; c < 8; ++c) {
    idx.push_back({(c & 1) ? v.geometry.size[0] - 1.0 : 0.0, (c & 2) ? v.geometry.size[1] - 1.0 : 0.0,
                   (c & 4) ? v.geometry.size[2] - 1.0 : 0.0});
  }
  for (int n = 0; n < 500; ++n) {
    idx.push_back({double(rng() % v.geometry.size[0]), double(rng() % v.geometry.size[1]),
                   double(rng() % v.geometry.size[2])});
  }
  for (const auto& i : idx) {
    const auto p = v.geometry.index_to_physical(i[0], i[1], i[2]);
    double ras[3];
    for (int r = 0; r < 3; ++r) {
      ras[r] = A[r][3].get<double>();
      for (int c = 0; c < 3; ++c) ras[r] += A[r][c].get<double>() * i[c];
    }
    ASSERT_NEAR(p[0], -ras[0], 1e-3) << path;
    ASSERT_NEAR(p[1], -ras[1], 1e-3) << path;
    ASSERT_NEAR(p[2], ras[2], 1e-3) << path;
  }
}

void expect_same_volume(const io::Volume& a, const io::Volume& b) {
  ASSERT_TRUE(a.geometry.same_grid(b.geometry, 1e-4));
  ASSERT_EQ(a.voxels.size(), b.voxels.size());
  EXPECT_EQ(0, std::memcmp(a.voxels.data(), b.voxels.data(), a.voxels.size() * sizeof(float)))
      << "voxels differ";
}

}  // namespace

TEST(NiftiReader, PositionsMatchNibabelForRasCh2) {
  expect_positions_match_nibabel(data_file(kTemplates + "ch2.nii.gz", "mricron-data"));
}

TEST(NiftiReader, PositionsMatchNibabelForLasHarvardOxford) {
  const std::string f = data_file(kTemplates + "HarvardOxford-cort-maxprob-thr0-1mm.nii.gz", "mricron-data");
  EXPECT_EQ(io::read_volume(f).geometry.orientation_code(), "LAS");
  expect_positions_match_nibabel(f);
}

TEST(NiftiReader, PositionsMatchNibabelForLsaKmeansTest) {
  const std::string f = data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples");
  EXPECT_EQ(io::read_volume(f).geometry.orientation_code(), "LSA");
  expect_positions_match_nibabel(f);
}

TEST(NiftiReader, ReadsNifti2BigEndianAndQformOnlyFiles) {
  // nibabel writes a NIfTI-2 copy of an oblique-free real volume with a rotated affine.
  TempDir tmp;
  const std::string src = data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples");
  auto r = python(
      "import nibabel as nib, numpy as np\n"
      "img = nib.load('" + src + "')\n"
      "a = img.affine.copy()\n"
      "c, s = np.cos(0.4), np.sin(0.4)\n"
      "rot = np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])\n"
      "n2 = nib.Nifti2Image(np.asarray(img.dataobj), rot @ a)\n"
      "nib.save(n2, '" + tmp.str("n2.nii.gz") + "')\n"
      "q = nib.Nifti1Image(np.asarray(img.dataobj), None)\n"
      "q.set_qform(rot @ a, code=1)\n"
      "q.set_sform(None, code=0)\n"
      "nib.save(q, '" + tmp.str("qform_only.nii") + "')\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(io::read_volume(tmp.str("n2.nii.gz")).metadata.at("nifti_version"), "2");
  expect_positions_match_nibabel(tmp.str("n2.nii.gz"));
  expect_positions_match_nibabel(tmp.str("qform_only.nii"));
  // Big-endian NIfTI-1 shipped with nibabel.
  expect_positions_match_nibabel(data_file(kNibabelData + "anatomical.nii", "python3-nibabel"));
  const io::Volume be = io::read_volume(kNibabelData + "anatomical.nii");
  auto stats = python(
      "import nibabel as nib, numpy as np\n"
      "d = np.asarray(nib.load('" + kNibabelData + "anatomical.nii').get_fdata())\n"
      "print(float(d.sum()))\n");
  double sum = 0;
  for (float x : be.voxels) sum += x;
  EXPECT_NEAR(sum, std::stod(stats.out), 1e-6 * std::fabs(sum));
}

TEST(NiftiReader, RefusesFourDimensionalImageWithClearReason) {
  try {
    io::read_volume(data_file(kNibabelData + "example4d.nii.gz", "python3-nibabel"));
    FAIL() << "a 4-D image was read as a volume";
  } catch (const io::Error& e) {
    EXPECT_NE(std::string(e.what()).find("4-D"), std::string::npos) << e.what();
  }
}

// The MetaImage files with a ±30° direction against the NRRD header of the same image, parsed
// independently in Python ("space directions" are explicit axis vectors).
TEST(MetaImageReader, ThirtyDegreeDirectionMatchesNrrdHeader) {
  for (const char* stem : {"BrainProtonDensitySliceBorder20DirectionPlus30",
                                 "BrainProtonDensitySliceShifted13x17yDirectionPlus30"}) {
    const std::string mhd = data_file(kItkData + stem + ".mhd", "insighttoolkit5-examples");
    const std::string nhdr = data_file(kItkData + stem + ".nhdr", "insighttoolkit5-examples");
    const io::Volume v = io::read_volume(mhd);
    auto r = python(
        "import json, re\n"
        "h = {}\n"
        "for line in open('" + nhdr + "'):\n"
        "    if ':' in line: k, val = line.split(':', 1); h[k.strip()] = val.strip()\n"
        "dirs = [[float(x) for x in t.split(',')] for t in re.findall(r'\\(([^)]*)\\)', h['space directions'])]\n"
        "origin = [float(x) for x in re.findall(r'\\(([^)]*)\\)', h['space origin'])[0].split(',')]\n"
        "print(json.dumps({'dirs': dirs, 'origin': origin, 'space': h.get('space', '')}))\n");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["dirs"].size(), 2u);
    const double c30 = std::cos(M_PI / 6);
    // The NRRD says the image axes are rotated by 30 degrees: the MHD must say the same.
    EXPECT_NEAR(std::fabs(v.geometry.dir(0, 0)), c30, 1e-4) << stem;
    for (int axis = 0; axis < 2; ++axis) {
      const auto& d = j["dirs"][axis];
      double norm = std::hypot(d[0].get<double>(), d[1].get<double>());
      EXPECT_NEAR(v.geometry.spacing[axis], norm, 1e-4) << stem;
      for (int r2 = 0; r2 < 2; ++r2) {
        EXPECT_NEAR(v.geometry.dir(r2, axis), d[r2].get<double>() / norm, 1e-4) << stem << " axis " << axis;
      }
      EXPECT_NEAR(v.geometry.origin[axis], j["origin"][axis].get<double>(), 1e-4) << stem;
    }
    // A voxel far from the origin lands where the NRRD geometry puts it.
    const auto p = v.geometry.index_to_physical(100, 50, 0);
    for (int r2 = 0; r2 < 2; ++r2) {
      const double want = j["origin"][r2].get<double>() + 100 * j["dirs"][0][r2].get<double>() +
                          50 * j["dirs"][1][r2].get<double>();
      EXPECT_NEAR(p[r2], want, 1e-3) << stem;
    }
  }
}

TEST(VolumeWriter, RoundTripsBitExactInEveryFormat) {
  TempDir tmp;
  for (const std::string& src : {kTemplates + "ch2.nii.gz", kItkData + "KmeansTest_T1UCharRaw.nii.gz",
                                kTemplates + "HarvardOxford-cort-maxprob-thr0-1mm.nii.gz"}) {
    const io::Volume v = io::read_volume(data_file(src, "mricron-data / insighttoolkit5-examples"));
    for (const char* ext : {".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr"}) {
      const std::string out = tmp.str(std::string("rt") + ext);
      io::WriteOptions wo;
      wo.force = true;
      io::write_volume(v, out, wo);
      const io::Volume back = io::read_volume(out);
      SCOPED_TRACE(src + " -> " + std::string(ext));
      expect_same_volume(v, back);
      EXPECT_EQ(back.stored_type, v.stored_type);
    }
  }
}

TEST(VolumeWriter, KeepsNonIntegerVoxelsAsFloat) {
  TempDir tmp;
  io::Volume v = io::read_volume(data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples"));
  for (auto& x : v.voxels) x = x / 7.0f - 3.25f;
  io::write_volume(v, tmp.str("f.nii.gz"));
  const io::Volume back = io::read_volume(tmp.str("f.nii.gz"));
  EXPECT_EQ(back.stored_type, io::PixelType::kFloat32);
  expect_same_volume(v, back);
}

TEST(VolumeWriter, RefusesExistingOutputWithoutForceAndLeavesItIntact) {
  TempDir tmp;
  const io::Volume v = io::read_volume(data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples"));
  const std::string out = tmp.str("v.nii.gz");
  io::write_volume(v, out);
  const auto size = fs::file_size(out);
  EXPECT_THROW(io::write_volume(v, out), io::Error);
  EXPECT_EQ(fs::file_size(out), size);
  io::WriteOptions wo;
  wo.force = true;
  EXPECT_NO_THROW(io::write_volume(v, out, wo));
}

TEST(VolumeWriter, FailedWriteLeavesNoFileAndNoTemporaries) {
  TempDir tmp;
  const io::Volume v = io::read_volume(data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples"));
  // A 62-slice volume cannot be a PNG: refused before anything is written.
  EXPECT_THROW(io::write_volume(v, tmp.str("x.png")), io::Error);
  // An inconsistent volume: the writer throws after choosing the file name.
  io::Volume broken = v;
  broken.voxels.resize(10);
  EXPECT_THROW(io::write_volume(broken, tmp.str("y.nii.gz")), io::Error);
  EXPECT_TRUE(fs::is_empty(tmp.path())) << "something was left in " << tmp.str();
}

TEST(PngReader, ReadsSliceAsOneSliceVolumeAndWritesItBack) {
  TempDir tmp;
  const io::Volume v = io::read_volume(data_file(kItkData + "BrainT1Slice.png", "insighttoolkit5-examples"));
  EXPECT_EQ(v.geometry.size[2], 1u);
  EXPECT_GT(v.geometry.size[0], 100u);
  EXPECT_EQ(v.stored_type, io::PixelType::kUInt8);
  io::write_volume(v, tmp.str("s.png"));
  expect_same_volume(v, io::read_volume(tmp.str("s.png")));
}

TEST(LabelReader, ReadsLabelMapAsExactIntegers) {
  const io::LabelVolume l = io::read_label_volume(data_file(kTemplates + "aal.nii.gz", "mricron-data"));
  std::set<int> labels(l.voxels.begin(), l.voxels.end());
  EXPECT_GT(labels.size(), 100u);  // AAL: 116 regions + background
  EXPECT_EQ(*labels.begin(), 0);
}

TEST(LabelWriter, WritesLabelMapsInTheSmallestIntegerType) {
  TempDir tmp;
  const io::LabelVolume l = io::read_label_volume(data_file(kTemplates + "aal.nii.gz", "mricron-data"));
  io::write_label_volume(l, tmp.str("aal.nii.gz"));
  const io::LabelVolume back = io::read_label_volume(tmp.str("aal.nii.gz"));
  EXPECT_EQ(back.voxels, l.voxels);
  auto r = python("import nibabel as nib\nprint(nib.load('" + tmp.str("aal.nii.gz") + "').get_data_dtype())\n");
  EXPECT_EQ(r.out, "uint8\n") << r.err;
}

TEST(VolumeReader, UpperCaseSuffixesReadLikeLowerCase) {
  TempDir tmp;
  fs::copy_file(data_file(kItkData + "BrainT1Slice.png", "insighttoolkit5-examples"), tmp.str("SLICE.PNG"));
  fs::copy_file(kNibabelData + "anatomical.nii", tmp.str("ANAT.NII"));
  EXPECT_EQ(io::read_volume(tmp.str("SLICE.PNG")).voxels, io::read_volume(kItkData + "BrainT1Slice.png").voxels);
  EXPECT_EQ(io::read_volume(tmp.str("ANAT.NII")).voxels, io::read_volume(kNibabelData + "anatomical.nii").voxels);
}

TEST(NiftiReader, AppliesSclSlopeAndInterceptLikeNibabel) {
  TempDir tmp;
  auto r = python(
      "import nibabel as nib, numpy as np\n"
      "a = (np.arange(4 * 5 * 6) % 97).astype(np.int16).reshape(4, 5, 6)\n"
      "img = nib.Nifti1Image(a, np.eye(4))\n"
      "img.header.set_slope_inter(0.5, -10.0)\n"
      "nib.save(img, '" + tmp.str("scaled.nii") + "')\n"
      "print(float(nib.load('" + tmp.str("scaled.nii") + "').get_fdata().sum()))\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const io::Volume v = io::read_volume(tmp.str("scaled.nii"));
  double sum = 0;
  for (float x : v.voxels) sum += x;
  EXPECT_NEAR(sum, std::stod(r.out), 1e-6);
  EXPECT_EQ(v.stored_type, io::PixelType::kFloat32);
}
