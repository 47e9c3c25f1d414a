// JPEG 2000 pixel data (lossless .90 and lossy .91), decoded with OpenJPEG: pydicom's JPEG 2000
// files against the uncompressed MR_small.dcm, pydicom's own decoding and dcm2niix; enhanced files
// of a known volume re-encoded by pydicom + Pillow (tests/io/make_jpeg2000.py) with frames in one
// or several fragments, with and without a Basic Offset Table; truncated data refused.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "dicom_compare.h"
#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "test_util.h"

namespace io = medsynth::io;
using namespace medsynth::test;

namespace {

const std::string kKmeans = kItkData + "KmeansTest_T1UCharRaw.nii.gz";

std::string script(const std::string& name) { return kPython + " " + MEDSYNTH_SOURCE_DIR + "/tests/io/" + name + " "; }

// `src` re-encoded as JPEG 2000 by make_jpeg2000.py into `dir`/name.dcm (its own folder, for dcm2niix).
std::string jpeg2000_copy(const TempDir& tmp, const std::string& src, const std::string& name, const std::string& args = "") {
  fs::create_directories(tmp.str(name));
  const std::string out = tmp.str(name) + "/" + name + ".dcm";
  auto r = run(script("make_jpeg2000.py") + src + " " + out + " " + args);
  EXPECT_EQ(r.exit_code, 0) << "make_jpeg2000.py (python3-pydicom, python3-pil): " << r.err;
  return out;
}

// pydicom's pixel_array (decoded by Pillow's OpenJPEG), rescaled, row after row.
std::vector<double> pydicom_pixels(const std::string& file) {
  auto r = python("import pydicom, json, warnings\n"
                  "warnings.simplefilter('ignore')\n"
                  "d = pydicom.dcmread('" + file + "')\n"
                  "a = d.pixel_array.astype(float) * float(getattr(d, 'RescaleSlope', 1)) + "
                  "float(getattr(d, 'RescaleIntercept', 0))\n"
                  "print(json.dumps(a.flatten().tolist()))\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out).get<std::vector<double>>();
}

std::vector<double> as_doubles(const io::Volume& v) { return std::vector<double>(v.voxels.begin(), v.voxels.end()); }

double correlation(const io::Volume& a, const io::Volume& b) {
  double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  const double n = double(a.voxels.size());
  for (std::size_t i = 0; i < a.voxels.size(); ++i) {
    const double x = a.voxels[i], y = b.voxels[i];
    sa += x, sb += y, saa += x * x, sbb += y * y, sab += x * y;
  }
  return (sab - sa * sb / n) / std::sqrt((saa - sa * sa / n) * (sbb - sb * sb / n));
}

// A copy of `file` in its own folder under `tmp` (dcm2niix converts folders).
std::string alone(const TempDir& tmp, const std::string& file, const std::string& name) {
  fs::create_directories(tmp.str(name));
  const std::string to = tmp.str(name) + "/" + fs::path(file).filename().string();
  fs::copy_file(file, to);
  return to;
}

}  // namespace

TEST(DicomSeriesReader, PydicomJpeg2000FilesDecodeLikeTheOriginalPydicomAndDcm2niix) {
  TempDir tmp;
  // Lossless: exactly the uncompressed MR_small.dcm, and dcm2niix's NIfTI of the file.
  const io::Volume ref = io::read_volume(data_file(kPydicomData + "MR_small.dcm", "python3-pydicom"));
  const std::string lossless = alone(tmp, kPydicomData + "MR_small_jp2klossless.dcm", "mr");
  const io::Volume v = io::read_volume(lossless);
  EXPECT_TRUE(v.geometry.same_grid(ref.geometry));
  EXPECT_EQ(v.voxels, ref.voxels);
  expect_same_voxels_at_same_positions(v, io::read_volume(dcm2niix_volume(tmp.str("mr"), tmp, -1, "mr-ref")));
  // 693_J2KI (14 stored bits in a signed 16-bit codestream, rescaled) and JPEG2000.dcm (the lossy
  // syntax, .91): pydicom's pixels and dcm2niix's NIfTI.
  for (const std::string name : {"693_J2KI", "JPEG2000"}) {
    const std::string file = alone(tmp, data_file(kPydicomData + name + ".dcm", "python3-pydicom"), name);
    const io::Volume j = io::read_volume(file);
    EXPECT_EQ(as_doubles(j), pydicom_pixels(file)) << name;
    const io::Volume d = io::read_volume(dcm2niix_volume(tmp.str(name), tmp, -1, name + "-ref"));
    if (name == "693_J2KI") {
      expect_same_voxels_at_same_positions(j, d);
    } else {
      // An NM image without ImagePositionPatient: dcm2niix invents a centred origin and stores
      // the rows bottom-up; only the pixels are compared.
      ASSERT_EQ(d.geometry.size, j.geometry.size);
      const std::size_t nx = j.geometry.size[0], ny = j.geometry.size[1];
      std::size_t differ = 0;
      for (std::size_t y = 0; y < ny; ++y) {
        for (std::size_t x = 0; x < nx; ++x) differ += j.at(x, y, 0) != d.at(x, ny - 1 - y, 0);
      }
      EXPECT_EQ(differ, 0u);
    }
  }
  // J2K_pixelrep_mismatch: the codestream says unsigned, PixelRepresentation signed. medsynth
  // follows the header as pydicom does (CT values from -2000); dcm2niix keeps the codestream's
  // unsigned values (0..8191), so it is compared with pydicom only.
  const std::string mismatch = data_file(kPydicomData + "J2K_pixelrep_mismatch.dcm", "python3-pydicom");
  const io::Volume m = io::read_volume(mismatch);
  EXPECT_EQ(as_doubles(m), pydicom_pixels(mismatch));
  EXPECT_EQ(*std::min_element(m.voxels.begin(), m.voxels.end()), -2000.0f);
}

TEST(DicomSeriesReader, Jpeg2000EnhancedFramesInFragmentsReadLikeTheUncompressedFile) {
  TempDir tmp;
  const std::string kmeans = data_file(kKmeans, "insighttoolkit5-examples");
  // Shuffled frames with per-frame rescale, then the same frames as JPEG 2000 in each layout of
  // fragments a writer may choose (PS3.5 A.4).
  const std::string src = tmp.str("enh.dcm");
  auto r = run(script("make_enhanced_mr.py") + kmeans + " " + src);
  ASSERT_EQ(r.exit_code, 0) << "make_enhanced_mr.py (python3-pydicom, python3-nibabel): " << r.err;
  const io::Volume plain = io::read_volume(src);
  expect_same_voxels_at_same_positions(plain, io::read_volume(kmeans));
  for (const auto& [name, args] : std::vector<std::pair<std::string, std::string>>{
           {"bot", ""}, {"bot3", "--fragments 3"}, {"nobot", "--no-bot"}, {"nobot2", "--fragments 2 --no-bot"}}) {
    const io::Volume j = io::read_volume(jpeg2000_copy(tmp, src, name, args));
    EXPECT_TRUE(j.geometry.same_grid(plain.geometry)) << name;
    EXPECT_EQ(j.voxels, plain.voxels) << name;
  }
}

TEST(DicomSeriesReader, Jpeg2000SeriesOfKnownVolumeMatchesTheNiftiAndDcm2niix) {
  // A classic series (plastimatch's of KmeansTest), every file re-encoded as JPEG 2000, as a PACS
  // archives it. dcm2niix 1.0.20220720 reads JPEG 2000 in single-frame files only (it refuses
  // multi-frame files: "Compressed image stored as 63 fragments"), so this is its comparison.
  TempDir tmp;
  const std::string kmeans = data_file(kKmeans, "insighttoolkit5-examples");
  const std::string series = plastimatch_series(kmeans, "kmeans-dicom");
  auto r = run(script("make_jpeg2000.py") + series + " " + tmp.str("j2k"));
  ASSERT_EQ(r.exit_code, 0) << "make_jpeg2000.py (python3-pydicom, python3-pil): " << r.err;
  const io::Volume v = io::read_volume(tmp.str("j2k"));
  EXPECT_EQ(v.geometry.size[2], 62u);
  EXPECT_EQ(v.voxels, io::read_volume(series).voxels);
  expect_same_voxels_at_same_positions(v, io::read_volume(kmeans));
  expect_same_voxels_at_same_positions(v, io::read_volume(dcm2niix_volume(tmp.str("j2k"), tmp)));
}

TEST(DicomSeriesReader, Jpeg2000LossyDecodesLikePydicomAndDcm2niixAndNearTheOriginal) {
  TempDir tmp;
  const std::string src = data_file(kPydicomData + "MR_small.dcm", "python3-pydicom");
  const std::string lossy = jpeg2000_copy(tmp, src, "lossy", "--lossy");
  const io::Volume original = io::read_volume(src), v = io::read_volume(lossy);
  EXPECT_EQ(as_doubles(v), pydicom_pixels(lossy));
  expect_same_voxels_at_same_positions(v, io::read_volume(dcm2niix_volume(tmp.str("lossy"), tmp)));
  EXPECT_NE(v.voxels, original.voxels);  // 10:1 irreversible: not the same numbers...
  EXPECT_GT(correlation(v, original), 0.99);  // ...but the same picture
}

TEST(DicomSeriesReader, UnsupportedJpeg2000SyntaxIsRefusedNamingIt) {
  // JPEG 2000 Part 2 multi-component (.92) is not decoded, nor HTJ2K (.201), which DCMTK 3.6.7
  // does not know (it parses the file as explicit little endian): each refusal names the syntax
  // and its UID from the meta header.
  TempDir tmp;
  const std::string j2k = jpeg2000_copy(tmp, data_file(kPydicomData + "MR_small.dcm", "python3-pydicom"), "p2");
  const std::string part2 = tmp.str("part2.dcm"), htj2k = tmp.str("htj2k.dcm");
  // pydicom 2.3 refuses to write a UID it does not know as a transfer syntax: HTJ2K's goes in
  // by editing the meta header's bytes (value and group length).
  auto r = python("import pydicom, struct\n"
                  "d = pydicom.dcmread('" + j2k + "')\n"
                  "d.file_meta.TransferSyntaxUID = '1.2.840.10008.1.2.4.92'\n"
                  "d.save_as('" + part2 + "')\n"
                  "b = bytearray(open('" + j2k + "', 'rb').read())\n"
                  "i = b.index(b'\\x02\\x00\\x10\\x00UI')\n"
                  "n = struct.unpack('<H', b[i + 6:i + 8])[0]\n"
                  "new = b'1.2.840.10008.1.2.4.201\\x00'\n"
                  "b[i + 6:i + 8 + n] = struct.pack('<H', len(new)) + new\n"
                  "g = b.index(b'\\x02\\x00\\x00\\x00UL')\n"
                  "b[g + 8:g + 12] = struct.pack('<I', struct.unpack('<I', b[g + 8:g + 12])[0] + len(new) - n)\n"
                  "open('" + htj2k + "', 'wb').write(b)\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& [file, words] : std::vector<std::pair<std::string, std::string>>{
           {part2, "'JPEG 2000 Part 2 Multicomponent Image Compression (Lossless only)' (1.2.840.10008.1.2.4.92)"},
           {htj2k, "'High-Throughput JPEG 2000 (Lossless Only)' (1.2.840.10008.1.2.4.201)"}}) {
    try {
      io::read_volume(file);
      ADD_FAILURE() << file << ": read without error";
    } catch (const io::Error& e) {
      EXPECT_NE(std::string(e.what()).find("pixel data compressed as " + words + ", which this build cannot decode"),
                std::string::npos) << e.what();
    }
  }
}

TEST(BadInput, TruncatedJpeg2000IsRefusedAndLeavesNoOutput) {
  TempDir tmp;
  const std::string src = data_file(kPydicomData + "MR_small_jp2klossless.dcm", "python3-pydicom");
  // The codestream cut short inside a well-formed file (pydicom rewrites the fragment), and the
  // file itself cut short.
  auto r = python("import pydicom\n"
                  "from pydicom.encaps import generate_pixel_data_frame, encapsulate\n"
                  "d = pydicom.dcmread('" + src + "')\n"
                  "f = next(generate_pixel_data_frame(d.PixelData))\n"
                  "d.PixelData = encapsulate([f[: len(f) // 4 * 2]])\n"
                  "d.save_as('" + tmp.str("half-codestream.dcm") + "')\n"
                  "d.PixelData = encapsulate([f[:-2]])\n"
                  "d.save_as('" + tmp.str("no-eoc.dcm") + "')\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(src, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(tmp.str("cut-file.dcm"), std::ios::binary) << bytes.substr(0, bytes.size() - 1000);
  for (const auto& [name, reason] : std::vector<std::pair<std::string, std::string>>{
           {"half-codestream.dcm", "JPEG 2000 data cannot be decoded: truncated or corrupt"},
           {"no-eoc.dcm", "JPEG 2000 data cannot be decoded: truncated or corrupt"},
           {"cut-file.dcm", "not a readable DICOM file"}}) {
    const std::string out = tmp.str(name + ".nii.gz");
    r = run_medsynth("convert " + tmp.str(name) + " " + out);
    EXPECT_EQ(r.exit_code, 2) << name << ": " << r.err;
    EXPECT_EQ(r.err.rfind("medsynth: error: " + tmp.str(name) + ": ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(reason), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out)) << name;
  }
  std::size_t left = 0;
  for (const auto& e : fs::directory_iterator(tmp.path())) left += e.path().string().find(".nii") != std::string::npos;
  EXPECT_EQ(left, 0u) << "temporaries left behind";
}
