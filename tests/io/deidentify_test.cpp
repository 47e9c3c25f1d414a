// `medsynth deidentify` on real files (pydicom's, nibabel's Siemens files, a plastimatch series):
// no identifying value or source UID left in any byte, pixels untouched, series kept together.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "medsynth/io/volume_io.h"
#include "test_util.h"

namespace io = medsynth::io;
using namespace medsynth::test;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// What identifies the files under `dir`, as pydicom finds it: names, IDs, birth dates,
// institutions, stations, private creator strings and every non-standard UID (nested too).
std::vector<std::string> identity_needles(const std::string& dir) {
  auto r = python(
      "import pydicom, os\n"
      "from pydicom.uid import UID_dictionary\n"
      "out = set()\n"
      "def walk(ds):\n"
      "    for e in ds:\n"
      "        if e.VR == 'SQ':\n"
      "            for i in e.value: walk(i)\n"
      "        elif e.VR == 'UI' and e.value and str(e.value) not in UID_dictionary:\n"
      "            if not str(e.value).startswith('1.2.276.0.7230010.3'): out.add(str(e.value))\n"
      "        elif e.VR == 'LO' and e.tag.is_private_creator and len(str(e.value).strip()) >= 6:\n"
      "            out.add(str(e.value).strip())\n"
      "for root, _, names in os.walk('" + dir + "'):\n"
      "    for n in names:\n"
      "        try: d = pydicom.dcmread(os.path.join(root, n))\n"
      "        except Exception: continue\n"
      "        for k in ('PatientName', 'PatientID', 'PatientBirthDate', 'InstitutionName', 'StationName',\n"
      "                  'ReferringPhysicianName', 'OperatorsName', 'AccessionNumber'):\n"
      "            v = str(d.get(k, '') or '').strip()\n"
      "            # The profile keeps Manufacturer; MR_small's institution is called like its maker.\n"
      "            if len(v) >= 4 and v not in str(d.get('Manufacturer', '')): out.add(v)\n"
      "        walk(d)\n"
      "print('\\n'.join(sorted(out)))\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> needles;
  std::istringstream lines(r.out);
  for (std::string l; std::getline(lines, l);) {
    // A short number (nibabel's PatientID is "1234") turns up by chance inside the fresh random
    // UIDs; such values are checked attribute by attribute with pydicom below instead.
    const bool short_number = l.size() < 10 && l.find_first_not_of("0123456789.") == std::string::npos;
    if (!l.empty() && !short_number) needles.push_back(l);
  }
  return needles;
}

int dciodvfy_errors(const std::string& file) {
  auto r = run("dciodvfy '" + file + "' 2>&1");
  int n = 0;
  std::istringstream lines(r.out);
  for (std::string l; std::getline(lines, l);) n += l.find("Error") != std::string::npos;
  return n;
}

}  // namespace

TEST(Deidentify, FolderOfRealFilesLosesIdentityButKeepsPixelsAndSeries) {
  TempDir tmp;
  const std::string in = tmp.str("in");
  fs::create_directories(in + "/mr");
  fs::create_directories(in + "/ct");
  fs::create_directories(in + "/siemens");
  fs::copy_file(data_file(kPydicomData + "MR_small.dcm", "python3-pydicom"), in + "/mr/MR_small.dcm");
  fs::copy_file(data_file(kPydicomData + "CT_small.dcm", "python3-pydicom"), in + "/ct/CT_small.dcm");
  fs::copy_file(data_file(kNicomData + "0.dcm", "python3-nibabel"), in + "/siemens/0.dcm");
  fs::copy_file(data_file(kNicomData + "1.dcm", "python3-nibabel"), in + "/siemens/1.dcm");
  const std::string series = plastimatch_series(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "kmeans-dicom");
  copy_tree(series, in + "/series");
  std::ofstream(in + "/notes.txt") << "not DICOM";
  const auto needles = identity_needles(in);
  ASSERT_GE(needles.size(), 10u);

  auto r = run_medsynth("deidentify " + in + " " + tmp.str("out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("notes.txt"), std::string::npos) << "the skipped file is named: " << r.err;
  const auto outputs = files_in(tmp.str("out"));
  ASSERT_EQ(outputs.size(), 4u + 62u);
  EXPECT_EQ(fs::path(outputs.front()).filename(), "IM0001.dcm");
  for (const auto& f : outputs) {
    const std::string bytes = slurp(f);
    for (const auto& n : needles) EXPECT_EQ(bytes.find(n), std::string::npos) << f << " holds '" << n << "'";
  }

  // pydicom: marking, no private attribute, pixels equal to the input's in input path order,
  // and files that shared a study/series still share (new) ones.
  auto check = python(
      "import pydicom, os, numpy as np\n"
      "ins = []\n"
      "for root, dirs, names in os.walk('" + in + "'):\n"
      "    for n in names:\n"
      "        if n.endswith('.dcm'): ins.append(os.path.join(root, n))\n"
      "ins.sort()\n"
      "outs = sorted(os.path.join('" + tmp.str("out") + "', n) for n in os.listdir('" + tmp.str("out") + "'))\n"
      "assert len(ins) == len(outs), (len(ins), len(outs))\n"
      "pairs = {}\n"
      "for a, b in zip(ins, outs):\n"
      "    s, d = pydicom.dcmread(a), pydicom.dcmread(b)\n"
      "    assert np.array_equal(s.pixel_array, d.pixel_array), (a, b)\n"
      "    assert d.PatientIdentityRemoved == 'YES'\n"
      "    assert d.DeidentificationMethodCodeSequence[0].CodeValue == '113100'\n"
      "    assert not any(e.tag.is_private for e in d.iterall()), b\n"
      "    assert 'ReferencedImageSequence' not in d and 'InstitutionName' not in d\n"
      "    assert d.SOPInstanceUID != s.SOPInstanceUID and d.file_meta.MediaStorageSOPInstanceUID == d.SOPInstanceUID\n"
      "    assert d.SOPClassUID == s.SOPClassUID\n"
      "    assert d.PatientID != s.PatientID and d.PatientID.startswith('DEID-'), d.PatientID\n"
      "    assert str(d.PatientName) == 'DEIDENTIFIED^MEDSYNTH' and d.PatientBirthDate == ''\n"
      "    pairs.setdefault(s.SeriesInstanceUID, set()).add((d.StudyInstanceUID, d.SeriesInstanceUID, d.PatientID))\n"
      "assert all(len(v) == 1 for v in pairs.values()), pairs\n"
      "assert len({next(iter(v))[1] for v in pairs.values()}) == len(pairs)\n"
      "print('ok', len(pairs))\n");
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;

  // The plastimatch series is still one stackable series with the same voxels and geometry.
  const io::Volume src = io::read_volume(series);
  std::vector<std::string> listed;
  for (const auto& s : io::list_dicom_series(tmp.str("out"))) {
    if (s.files.size() == 62) listed.push_back(s.series_uid);
  }
  ASSERT_EQ(listed.size(), 1u);
  io::ReadOptions ro;
  ro.series = listed.front();
  const io::Volume back = io::read_volume(tmp.str("out"), ro);
  EXPECT_TRUE(back.geometry.same_grid(src.geometry, 1e-4));
  EXPECT_EQ(back.voxels, src.voxels);

  // De-identification adds no conformance error the source did not have.
  EXPECT_LE(dciodvfy_errors(outputs[1]), dciodvfy_errors(in + "/mr/MR_small.dcm"));

  // A second run maps to other UIDs: replacements are fresh per run, not derived from the source.
  r = run_medsynth("deidentify " + in + " " + tmp.str("out2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto uid = [](const std::string& f) {
    auto p = python("import pydicom; print(pydicom.dcmread('" + f + "').SeriesInstanceUID)");
    return p.out;
  };
  EXPECT_NE(uid(tmp.str("out/IM0001.dcm")), uid(tmp.str("out2/IM0001.dcm")));
}

TEST(Deidentify, SingleFileWorksAndRiskyOrMissingInputIsRefused) {
  TempDir tmp;
  const std::string mr = data_file(kPydicomData + "MR_small.dcm", "python3-pydicom");
  auto r = run_medsynth("deidentify " + mr + " " + tmp.str("one.dcm"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(slurp(tmp.str("one.dcm")).find("CompressedSamples"), std::string::npos);
  r = run_medsynth("deidentify " + mr + " " + tmp.str("one.dcm"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;

  // Burned-in annotation: the basic profile cannot clean pixels, so the file is refused.
  fs::copy_file(mr, tmp.str("burned.dcm"));
  ASSERT_EQ(run("dcmodify -nb -i '(0028,0301)=YES' " + tmp.str("burned.dcm")).exit_code, 0)
      << "dcmodify failed (install the Debian package 'dcmtk')";
  r = run_medsynth("deidentify " + tmp.str("burned.dcm") + " " + tmp.str("burned-out.dcm"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("BurnedInAnnotation"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("burned-out.dcm")));

  // A folder with no DICOM image and a missing input: bad input, nothing written.
  fs::create_directories(tmp.str("empty"));
  std::ofstream(tmp.str("empty/readme.txt")) << "hello";
  r = run_medsynth("deidentify " + tmp.str("empty") + " " + tmp.str("empty-out"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("no DICOM image"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("empty-out")));
  r = run_medsynth("deidentify " + tmp.str("missing") + " " + tmp.str("x"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_medsynth("deidentify " + mr + " " + tmp.str("y.dcm") + " --uid-root 1.2.x");
  EXPECT_EQ(r.exit_code, 1) << r.err;
}
