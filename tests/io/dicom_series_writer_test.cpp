// Synthetic DICOM export checked by tools that are not medsynth: dciodvfy (conformance), dcm2niix
// + nibabel (geometry), pydicom (attributes) and a byte search (no identity of the template).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "medsynth/io/dicom_series_writer.h"
#include "medsynth/io/dicom_uid.h"
#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "dicom_compare.h"
#include "test_util.h"

namespace io = medsynth::io;
using namespace medsynth::test;

namespace {

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// dciodvfy prints "Error - ..." for every conformance error; warnings are allowed.
void expect_dciodvfy_clean(const std::vector<std::string>& files) {
  ASSERT_FALSE(files.empty());
  std::string list;
  for (const auto& f : files) list += " '" + f + "'";
  // One shell loop for all files: a process per file from C++ would cost as much again.
  auto r = run("for f in" + list + "; do echo \"== $f\"; dciodvfy \"$f\" 2>&1; done", 600);
  ASSERT_EQ(r.exit_code, 0) << "dciodvfy failed to run (install the Debian package 'dicom3tools'): " << r.err;
  ASSERT_NE(r.out.find("MRImage"), std::string::npos) << "dciodvfy did not recognise MR Image:\n" << r.out.substr(0, 2000);
  std::istringstream lines(r.out);
  std::string line, current;
  int errors = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("== ", 0) == 0) current = line.substr(3);
    if (line.find("Error") != std::string::npos && errors++ < 10) ADD_FAILURE() << current << ": " << line;
  }
  EXPECT_EQ(errors, 0);
}

// Every voxel equal within `tolerance`, the geometry equal within 1e-3 mm.
void expect_same_volume(const io::Volume& a, const io::Volume& b, double tolerance) {
  ASSERT_EQ(a.geometry.size, b.geometry.size);
  EXPECT_TRUE(a.geometry.same_grid(b.geometry, 1e-3));
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(a.geometry.origin[c], b.geometry.origin[c], 1e-3) << c;
  for (int c = 0; c < 9; ++c) EXPECT_NEAR(a.geometry.direction[c], b.geometry.direction[c], 1e-6) << c;
  double worst = 0;
  for (std::size_t n = 0; n < a.voxels.size(); ++n) worst = std::max(worst, double(std::fabs(a.voxels[n] - b.voxels[n])));
  EXPECT_LE(worst, tolerance);
}

// The same volume as nibabel sees it after dcm2niix converted `series`: shape, zooms, affine and
// voxels of both in nibabel's closest canonical (RAS) orientation.
void expect_dcm2niix_matches(const std::string& series, const std::string& nifti, const TempDir& tmp) {
  const std::string out = tmp.str("dcm2niix");
  fs::create_directories(out);
  auto r = run("dcm2niix -z y -b n -f conv -o " + out + " " + series);
  ASSERT_EQ(r.exit_code, 0) << "dcm2niix failed (install the Debian package 'dcm2niix'): " << r.out << r.err;
  auto p = python(
      "import nibabel as nb, numpy as np\n"
      "a = nb.as_closest_canonical(nb.load('" + out + "/conv.nii.gz'))\n"
      "b = nb.as_closest_canonical(nb.load('" + nifti + "'))\n"
      "assert a.shape == b.shape, (a.shape, b.shape)\n"
      "assert np.allclose(a.header.get_zooms()[:3], b.header.get_zooms()[:3], atol=1e-4), (a.header.get_zooms(), b.header.get_zooms())\n"
      "assert nb.aff2axcodes(a.affine) == nb.aff2axcodes(b.affine)\n"
      "assert np.allclose(a.affine, b.affine, atol=1e-3), (a.affine, b.affine)\n"
      "d = np.abs(a.get_fdata() - b.get_fdata()).max()\n"
      "assert d == 0, d\n"
      "print('ok', a.shape, nb.aff2axcodes(b.affine))\n");
  EXPECT_EQ(p.exit_code, 0) << p.out << p.err;
}

}  // namespace

TEST(DicomSeriesWriter, Ch2SeriesPassesDciodvfyAndReadsBackExactly) {
  const std::string nii = data_file(kTemplates + "ch2.nii.gz", "mricron-data");
  TempDir tmp;
  const io::Volume src = io::read_volume(nii);
  const auto result = io::write_dicom_series(src, tmp.str("ch2"));
  const auto files = files_in(tmp.str("ch2"));
  ASSERT_EQ(files.size(), 181u);
  EXPECT_EQ(fs::path(files.front()).filename(), "IM0001.dcm");
  EXPECT_EQ(fs::path(files.back()).filename(), "IM0181.dcm");
  EXPECT_EQ(result.files.size(), 181u);
  // uint8 voxels: stored as they are, so the read-back is exact.
  EXPECT_EQ(result.rescale_slope, 1.0);
  EXPECT_EQ(result.rescale_intercept, 0.0);
  expect_same_volume(io::read_volume(tmp.str("ch2")), src, 0.0);
  expect_dciodvfy_clean(files);
}

TEST(DicomSeriesWriter, KmeansLsaSeriesReadsBackAndPassesDciodvfy) {
  const std::string nii = data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples");
  TempDir tmp;
  const io::Volume src = io::read_volume(nii);
  ASSERT_EQ(src.geometry.orientation_code(), "LSA");
  io::write_dicom_series(src, tmp.str("kmeans"));
  expect_same_volume(io::read_volume(tmp.str("kmeans")), src, 0.0);
  expect_dciodvfy_clean(files_in(tmp.str("kmeans")));
}

TEST(DicomSeriesWriter, Dcm2niixReadsSameSizeSpacingOrientationAndVoxels) {
  for (const auto& nii : {data_file(kTemplates + "ch2.nii.gz", "mricron-data"),
                          data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples")}) {
    SCOPED_TRACE(nii);
    TempDir tmp;
    io::write_dicom_series(io::read_volume(nii), tmp.str("series"));
    expect_dcm2niix_matches(tmp.str("series"), nii, tmp);
  }
}

TEST(DicomSeriesWriter, LeftHandedVolumeKeepsEveryVoxelAtItsPhysicalPosition) {
  // HarvardOxford is LAS (determinant < 0). DICOM slices are stacked along row x column, so the
  // read-back runs the slices the other way; every voxel must still sit at the same position.
  const std::string nii = data_file(kTemplates + "HarvardOxford-cort-maxprob-thr0-1mm.nii.gz", "mricron-data");
  TempDir tmp;
  const io::Volume src = io::read_volume(nii);
  io::write_dicom_series(src, tmp.str("ho"));
  const io::Volume back = io::read_volume(tmp.str("ho"));
  ASSERT_EQ(back.geometry.size, src.geometry.size);
  const auto& g = back.geometry;
  std::size_t mismatches = 0;
  for (std::size_t k = 0; k < g.size[2]; k += 7) {
    for (std::size_t j = 0; j < g.size[1]; j += 3) {
      for (std::size_t i = 0; i < g.size[0]; i += 3) {
        const auto p = g.index_to_physical(double(i), double(j), double(k));
        const auto s = src.geometry.physical_to_index(p);
        long si[3];
        for (int a = 0; a < 3; ++a) {
          si[a] = std::lround(s[a]);
          ASSERT_NEAR(s[a], double(si[a]), 1e-3);
        }
        if (back.at(i, j, k) != src.at(std::size_t(si[0]), std::size_t(si[1]), std::size_t(si[2]))) ++mismatches;
      }
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

TEST(DicomSeriesWriter, FloatVoxelsRoundTripWithinHalfTheRescaleStep) {
  // A float volume (ch2 scaled and shifted by non-integers) needs a real slope: the read-back must
  // be within half a quantisation step, and the step must use the whole int16 range.
  TempDir tmp;
  io::Volume v = io::read_volume(data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples"));
  for (std::size_t n = 0; n < v.voxels.size(); ++n) v.voxels[n] = v.voxels[n] * 0.0137f - 1.25f + float(n % 7) * 1e-3f;
  const auto [lo, hi] = io::intensity_range(v);
  const auto result = io::write_dicom_series(v, tmp.str("float"));
  EXPECT_NE(result.rescale_slope, 1.0);
  EXPECT_NEAR(result.rescale_slope, (hi - lo) / 65534.0, 1e-9);
  const io::Volume back = io::read_volume(tmp.str("float"));
  expect_same_volume(back, v, result.rescale_slope / 2 + 1e-6);

  // A whole-number volume wider than int16 but within 65536 values is shifted, still exact.
  io::Volume wide = v;
  for (std::size_t n = 0; n < wide.voxels.size(); ++n) wide.voxels[n] = float(n % 60000);
  const auto wr = io::write_dicom_series(wide, tmp.str("wide"));
  EXPECT_EQ(wr.rescale_slope, 1.0);
  expect_same_volume(io::read_volume(tmp.str("wide")), wide, 0.0);
}

TEST(DicomSeriesWriter, WritesSyntheticMarkingAndProvenanceThatPydicomReads) {
  TempDir tmp;
  io::DicomWriteOptions o;
  o.model_family = "ddpm";
  o.checkpoint = "run7/step-2000.pt";
  io::write_dicom_series(io::read_volume(data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples")),
                         tmp.str("s"), o);
  auto r = python(
      "import pydicom, glob\n"
      "fs = sorted(glob.glob('" + tmp.str("s") + "/*.dcm'))\n"
      "ds = [pydicom.dcmread(f) for f in fs]\n"
      "d = ds[0]\n"
      "assert d.SOPClassUID == '1.2.840.10008.5.1.4.1.1.4', d.SOPClassUID\n"
      "assert list(d.ImageType)[:2] == ['DERIVED', 'SECONDARY'], d.ImageType\n"
      "assert d.BurnedInAnnotation == 'NO'\n"
      "assert d.SeriesDescription.startswith('SYNTHETIC'), d.SeriesDescription\n"
      "assert 'SYNTHETIC' in d.ImageComments\n"
      "assert d.ContentQualification == 'RESEARCH'\n"
      "assert 'medsynth' in d.DerivationDescription and 'ddpm' in d.DerivationDescription\n"
      "assert 'run7/step-2000.pt' in d.DerivationDescription, d.DerivationDescription\n"
      "assert str(d.PatientName) == 'SYNTHETIC^MEDSYNTH' and d.PatientID.startswith('SYN-')\n"
      "assert len({x.SOPInstanceUID for x in ds}) == len(ds) == 62\n"
      "assert len({(x.StudyInstanceUID, x.SeriesInstanceUID, x.FrameOfReferenceUID, x.PatientID) for x in ds}) == 1\n"
      "assert [int(x.InstanceNumber) for x in ds] == list(range(1, 63))\n"
      "for u in (d.StudyInstanceUID, d.SeriesInstanceUID, d.SOPInstanceUID, d.FrameOfReferenceUID):\n"
      "    assert u.startswith('2.25.') and len(u) <= 64, u\n"
      "assert 'PatientIdentityRemoved' not in d  # no template, nothing was removed\n"
      "print('ok')\n");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(DicomSeriesWriter, UidsAreFreshValidAndUseTheConfiguredRoot) {
  std::set<std::string> seen;
  for (int n = 0; n < 1000; ++n) {
    const std::string u = io::make_dicom_uid();
    EXPECT_TRUE(io::is_valid_dicom_uid(u)) << u;
    EXPECT_EQ(u.rfind("2.25.", 0), 0u) << u;
    seen.insert(u);
    const std::string r = io::make_dicom_uid("1.2.826.0.1.3680043.10.543");
    EXPECT_TRUE(io::is_valid_dicom_uid(r)) << r;
    EXPECT_EQ(r.rfind("1.2.826.0.1.3680043.10.543.", 0), 0u) << r;
    seen.insert(r);
  }
  EXPECT_EQ(seen.size(), 2000u);
  EXPECT_FALSE(io::is_valid_dicom_uid("1.02.3"));
  EXPECT_FALSE(io::is_valid_dicom_uid("1..3"));
  EXPECT_THROW(io::make_dicom_uid("1.2.x"), medsynth::UsageError);
  // Two writes of one volume are two different studies and series.
  TempDir tmp;
  const io::Volume v = io::read_volume(data_file(kPydicomData + "MR_small.dcm", "python3-pydicom"));
  io::DicomWriteOptions o;
  o.uid_root = "1.2.826.0.1.3680043.10.543";
  const auto a = io::write_dicom_series(v, tmp.str("a"), o);
  const auto b = io::write_dicom_series(v, tmp.str("b"), o);
  EXPECT_NE(a.study_uid, b.study_uid);
  EXPECT_NE(a.series_uid, b.series_uid);
  EXPECT_EQ(a.series_uid.rfind(o.uid_root + ".", 0), 0u);
  // Through the CLI, a bad root is a usage error before anything is read or written.
  auto r = run_medsynth("convert " + kPydicomData + "MR_small.dcm " + tmp.str("c") + " --to dicom --uid-root 1.2.abc");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("--uid-root"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("c")));
}

TEST(DicomSeriesWriter, TemplateIdentityNeverReachesAnyOutputByte) {
  // Real files as templates. The test lists with pydicom what identifies each (names, IDs, birth
  // date, institution, every non-standard UID anywhere, private creators) and searches every
  // output byte for it.
  const std::vector<std::string> templates = {data_file(kPydicomData + "MR_small.dcm", "python3-pydicom"),
                                              data_file(kPydicomData + "CT_small.dcm", "python3-pydicom"),
                                              data_file(kNicomData + "0.dcm", "python3-nibabel")};
  const io::Volume v = io::read_volume(data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples"));
  for (const auto& tpl : templates) {
    SCOPED_TRACE(tpl);
    TempDir tmp;
    auto ids = python(
        "import pydicom\n"
        "from pydicom.uid import UID_dictionary\n"
        "d = pydicom.dcmread('" + tpl + "')\n"
        "out = set()\n"
        "for k in ('PatientName', 'PatientID', 'PatientBirthDate', 'InstitutionName', 'ReferringPhysicianName', 'StationName'):\n"
        "    v = str(d.get(k, '') or '').strip()\n"
        "    if len(v) >= 4: out.add(v)\n"
        "def walk(ds):\n"
        "    for e in ds:\n"
        "        if e.VR == 'SQ':\n"
        "            for i in e.value: walk(i)\n"
        "        elif e.VR == 'UI' and e.value and str(e.value) not in UID_dictionary: out.add(str(e.value))\n"
        "walk(d)\n"
        "walk(d.file_meta)\n"
        "print('\\n'.join(sorted(out)))\n");
    ASSERT_EQ(ids.exit_code, 0) << ids.err;
    std::vector<std::string> needles;
    std::istringstream lines(ids.out);
    for (std::string l; std::getline(lines, l);) {
      // A short number (nibabel's PatientID "1234") turns up by chance in fresh random UIDs; the
      // PatientID is checked as an attribute below instead. DCMTK's own class UID is no identity.
      const bool short_number = l.size() < 10 && l.find_first_not_of("0123456789.") == std::string::npos;
      if (!l.empty() && !short_number && l.find("1.2.276.0.7230010.3") != 0) needles.push_back(l);
    }
    ASSERT_GE(needles.size(), 4u) << ids.out;  // the templates do carry identity to look for
    for (const bool enhanced : {false, true}) {
      SCOPED_TRACE(enhanced ? "enhanced" : "classic");
      const std::string out = tmp.str(enhanced ? "enhanced" : "classic");
      auto r = run_medsynth("convert " + kItkData + "KmeansTest_T1UCharRaw.nii.gz " + out +
                            " --to dicom --template " + tpl + (enhanced ? " --enhanced" : ""));
      ASSERT_EQ(r.exit_code, 0) << r.err;
      const auto files = files_in(out);
      ASSERT_EQ(files.size(), enhanced ? 1u : 62u);
      for (const auto& f : files) {
        const std::string bytes = slurp(f);
        for (const auto& n : needles) EXPECT_EQ(bytes.find(n), std::string::npos) << f << " holds '" << n << "'";
      }
      auto check = python(
          "import pydicom\n"
          "t = pydicom.dcmread('" + tpl + "')\n"
          "d = pydicom.dcmread('" + files.front() + "')\n"
          "assert d.PatientIdentityRemoved == 'YES'\n"
          "c = d.DeidentificationMethodCodeSequence[0]\n"
          "assert (c.CodeValue, c.CodingSchemeDesignator) == ('113100', 'DCM'), c\n"
          "assert 'Annex E' in d.DeidentificationMethod\n"
          "assert not any(e.tag.is_private for e in d.iterall())\n"
          "assert str(d.PatientName) == 'SYNTHETIC^MEDSYNTH' and d.PatientID.startswith('SYN-')\n"
          "assert d.PatientID != t.PatientID and d.get('PatientBirthDate') in ('', None)\n"
          "enhanced = d.SOPClassUID == '1.2.840.10008.5.1.4.1.1.4.1'\n"
          "assert enhanced == " + std::string(enhanced ? "True" : "False") + "\n"
          "if enhanced and t.Modality == 'MR':\n"
          "    # The echo time moves into the shared MR Echo group; classic-only attributes stay out.\n"
          "    e = d.SharedFunctionalGroupsSequence[0].MREchoSequence[0].EffectiveEchoTime\n"
          "    assert float(e) == float(t.EchoTime), (e, t.EchoTime)\n"
          "    assert 'ScanningSequence' not in d and 'EchoTime' not in d\n"
          "elif enhanced:\n"
          "    assert 'MREchoSequence' not in d.SharedFunctionalGroupsSequence[0]\n"
          "elif t.Modality == 'MR':\n"
          "    assert float(d.EchoTime) == float(t.EchoTime) and float(d.RepetitionTime) == float(t.RepetitionTime)\n"
          "    assert str(d.ScanningSequence) == str(t.ScanningSequence), (d.ScanningSequence, t.ScanningSequence)\n"
          "else:\n"
          "    assert d.ScanningSequence == 'RM' and d.get('EchoTime') in ('', None)\n"
          "print('ok')\n");
      EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
      expect_dciodvfy_clean({files.front(), files.back()});
    }
  }
}

TEST(DicomSeriesWriter, EnhancedMrPassesDciodvfyAndReadsBackInMedsynthAndDcm2niix) {
  // One Enhanced MR Image file per volume: RAS ch2 (181 frames), LSA KmeansTest and left-handed
  // (LAS) HarvardOxford. medsynth's reader gives the volume back (voxels exact, positions within
  // 1e-3 mm), dcm2niix gives the same NIfTI as the source, dciodvfy finds no error.
  for (const auto& nii : {data_file(kTemplates + "ch2.nii.gz", "mricron-data"),
                          data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples"),
                          data_file(kTemplates + "HarvardOxford-cort-maxprob-thr0-1mm.nii.gz", "mricron-data")}) {
    SCOPED_TRACE(nii);
    TempDir tmp;
    const io::Volume src = io::read_volume(nii);
    io::DicomWriteOptions o;
    o.enhanced = true;
    const auto result = io::write_dicom_series(src, tmp.str("enh"), o);
    const auto files = files_in(tmp.str("enh"));
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(result.files, files);
    EXPECT_EQ(fs::path(files.front()).filename(), "IM0001.dcm");
    const io::Volume back = io::read_volume(tmp.str("enh"));
    if (src.geometry.orientation_code() == "LAS") {
      expect_same_voxels_at_same_positions(back, src);  // stacked along row x column: reversed
    } else {
      expect_same_volume(back, src, 0.0);
    }
    expect_dcm2niix_matches(tmp.str("enh"), nii, tmp);
    expect_dciodvfy_clean(files);
  }
}

TEST(DicomSeriesWriter, EnhancedMrCarriesTheSyntheticMarkingAndFunctionalGroups) {
  TempDir tmp;
  io::Volume v = io::read_volume(data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples"));
  for (auto& x : v.voxels) x = x * 0.0137f - 1.25f;  // a real slope, in the shared Pixel Value Transformation
  auto r = run_medsynth("convert " + kItkData + "KmeansTest_T1UCharRaw.nii.gz " + tmp.str("cli") +
                        " --to dicom --enhanced --model-family ddpm --checkpoint run7/step-2000.pt");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1 Enhanced MR file of 62 frames"), std::string::npos) << r.out;
  io::DicomWriteOptions o;
  o.enhanced = true;
  const auto result = io::write_dicom_series(v, tmp.str("float"), o);
  expect_same_volume(io::read_volume(tmp.str("float")), v, result.rescale_slope / 2 + 1e-6);
  auto p = python(
      "import pydicom\n"
      "d = pydicom.dcmread('" + tmp.str("cli/IM0001.dcm") + "')\n"
      "assert d.SOPClassUID == '1.2.840.10008.5.1.4.1.1.4.1', d.SOPClassUID\n"
      "assert list(d.ImageType) == ['DERIVED', 'PRIMARY', 'VOLUME', 'NONE'], d.ImageType\n"
      "assert int(d.NumberOfFrames) == 62 and len(d.PerFrameFunctionalGroupsSequence) == 62\n"
      "assert d.SeriesDescription.startswith('SYNTHETIC') and 'SYNTHETIC' in d.ImageComments\n"
      "assert d.ContentQualification == 'RESEARCH' and d.BurnedInAnnotation == 'NO'\n"
      "assert 'ddpm' in d.DerivationDescription and 'run7/step-2000.pt' in d.DerivationDescription\n"
      "assert str(d.PatientName) == 'SYNTHETIC^MEDSYNTH' and d.PatientID.startswith('SYN-')\n"
      "assert 'PatientIdentityRemoved' not in d and 'Laterality' not in d\n"
      "sh = d.SharedFunctionalGroupsSequence[0]\n"
      "assert [float(x) for x in sh.PixelMeasuresSequence[0].PixelSpacing] == [2.0, 2.0]\n"
      "assert sh.PixelValueTransformationSequence[0].RescaleType == 'US'\n"
      "assert sh.MRImageFrameTypeSequence[0].FrameType == d.ImageType\n"
      "for k, f in enumerate(d.PerFrameFunctionalGroupsSequence):\n"
      "    c = f.FrameContentSequence[0]\n"
      "    assert list(c.DimensionIndexValues) == [1, k + 1] and c.InStackPositionNumber == k + 1\n"
      "    assert 'PlanePositionSequence' in f and 'PixelValueTransformationSequence' not in f\n"
      "for u in (d.StudyInstanceUID, d.SeriesInstanceUID, d.SOPInstanceUID, d.FrameOfReferenceUID):\n"
      "    assert u.startswith('2.25.') and len(u) <= 64, u\n"
      "f = pydicom.dcmread('" + tmp.str("float/IM0001.dcm") + "')\n"
      "assert float(f.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0].RescaleSlope) != 1\n"
      "print('ok')\n");
  EXPECT_EQ(p.exit_code, 0) << p.out << p.err;
  // --enhanced without --to dicom has no effect: a warning, and the NIfTI is written.
  r = run_medsynth("convert " + kItkData + "KmeansTest_T1UCharRaw.nii.gz " + tmp.str("k.nii.gz") + " --enhanced");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("--enhanced has no effect"), std::string::npos) << r.err;
}

TEST(DicomSeriesWriter, RefusesExistingFolderWithoutForceAndLeavesNothingOnFailure) {
  TempDir tmp;
  const std::string in = data_file(kPydicomData + "MR_small.dcm", "python3-pydicom");
  auto r = run_medsynth("convert " + in + " " + tmp.str("out") + " --to dicom");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string first = slurp(tmp.str("out/IM0001.dcm"));
  r = run_medsynth("convert " + in + " " + tmp.str("out") + " --to dicom");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(tmp.str("out/IM0001.dcm")), first);
  r = run_medsynth("convert " + in + " " + tmp.str("out") + " --to dicom --force");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(slurp(tmp.str("out/IM0001.dcm")), first);  // new UIDs: a new file
  // A template that is not DICOM: exit 2 naming it, and no folder or temporary is left.
  std::ofstream(tmp.str("bad.dcm")) << "not dicom";
  r = run_medsynth("convert " + in + " " + tmp.str("out2") + " --to dicom --template " + tmp.str("bad.dcm"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("medsynth: error: " + tmp.str("bad.dcm")), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("out2")));
  for (const auto& e : fs::directory_iterator(tmp.path())) {
    EXPECT_EQ(e.path().filename().string().rfind(".medsynth-tmp", 0), std::string::npos) << e.path();
  }
  // --labels has no DICOM form: a usage error.
  r = run_medsynth("convert " + in + " " + tmp.str("out3") + " --to dicom --labels");
  EXPECT_EQ(r.exit_code, 1) << r.err;
}
