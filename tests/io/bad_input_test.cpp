// Bad input never crashes: each case is read or refused with "medsynth: error: <path>: <reason>"
// and exit code 2 — never a signal, never a hang. Runs the real binary.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <algorithm>
#include <vector>

#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "test_util.h"

using namespace medsynth::test;

namespace {

std::vector<char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The uncompressed bytes of a real NIfTI-1 file (KmeansTest, 128x128x62 uint8).
std::vector<char> real_nifti_bytes() {
  const std::string src = data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples");
  gzFile f = gzopen(src.c_str(), "rb");
  std::vector<char> out;
  char buf[65536];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  gzclose(f);
  return out;
}

template <typename T>
void poke(std::vector<char>& b, std::size_t offset, T value) {
  std::memcpy(b.data() + offset, &value, sizeof(T));
}

// Refused with exit code 2 and a message naming the file.
void expect_refused(const std::string& path, const std::string& reason_part = "") {
  auto r = run_medsynth("info " + path, 60);
  EXPECT_EQ(r.signal, 0) << path << " crashed with signal " << r.signal;
  EXPECT_EQ(r.exit_code, 2) << path << "\nstdout: " << r.out << "\nstderr: " << r.err;
  EXPECT_EQ(r.err.rfind("medsynth: error: " + path + ": ", 0), 0u) << r.err;
  if (!reason_part.empty()) {
    EXPECT_NE(r.err.find(reason_part), std::string::npos) << r.err;
  }
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line expected: " << r.err;
}

// Either read (exit 0, a size printed) or refused cleanly.
void expect_read_or_refused(const std::string& path) {
  auto r = run_medsynth("info " + path, 60);
  EXPECT_EQ(r.signal, 0) << path << " crashed with signal " << r.signal;
  if (r.exit_code == 0) {
    EXPECT_NE(r.out.find("size:"), std::string::npos) << r.out;
  } else {
    EXPECT_EQ(r.exit_code, 2) << path << ": " << r.err;
    EXPECT_EQ(r.err.rfind("medsynth: error: " + path + ": ", 0), 0u) << r.err;
  }
}

}  // namespace

TEST(BadInput, PydicomBrokenFilesAreRefusedOrRead) {
  expect_refused(data_file(kPydicomData + "MR_truncated.dcm", "python3-pydicom"));
  expect_refused(data_file(kPydicomData + "rtplan.dcm", "python3-pydicom"), "not an image");
  expect_refused(data_file(kPydicomData + "rtplan_truncated.dcm", "python3-pydicom"));
  for (const char* f : {"badVR.dcm", "no_meta.dcm", "meta_missing_tsyntax.dcm", "no_meta_group_length.dcm",
                              "MR_small_jp2klossless.dcm"}) {
    expect_read_or_refused(data_file(kPydicomData + f, "python3-pydicom"));
  }
}

TEST(BadInput, ZeroByteFilesAreRefused) {
  TempDir tmp;
  for (const char* name : {"empty.nii.gz", "empty.nii", "empty.dcm", "empty.mha"}) {
    std::ofstream(tmp.str(name));
    expect_refused(tmp.str(name), "empty");
  }
}

TEST(BadInput, TruncatedNiftiGzIsRefused) {
  TempDir tmp;
  auto bytes = read_file(data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples"));
  bytes.resize(bytes.size() / 2);
  write_file(tmp.str("half.nii.gz"), bytes);
  expect_refused(tmp.str("half.nii.gz"), "truncated");
}

TEST(BadInput, HostileNiftiHeadersAreRefusedNamingTheField) {
  TempDir tmp;
  const auto good = real_nifti_bytes();
  ASSERT_GT(good.size(), 348u);
  struct Case {
    std::string name, reason;
    std::function<void(std::vector<char>&)> edit;
  };
  const std::vector<Case> cases = {
      {"dim0_zero.nii", "dim[0] = 0", [](auto& b) { poke<std::int16_t>(b, 40, 0); }},
      {"dim0_nine.nii", "dim[0] = 9", [](auto& b) { poke<std::int16_t>(b, 40, 9); }},
      {"dim_negative.nii", "dim[2] = -5", [](auto& b) { poke<std::int16_t>(b, 44, -5); }},
      {"dim_zero.nii", "dim[3] = 0", [](auto& b) { poke<std::int16_t>(b, 46, 0); }},
      {"too_big.nii", "truncated", [](auto& b) { poke<std::int16_t>(b, 46, 30000); }},
      {"nan_pixdim.nii", "pixdim[1]", [](auto& b) { poke<float>(b, 80, std::nanf("")); }},
      {"inf_pixdim.nii", "pixdim[2]", [](auto& b) { poke<float>(b, 84, INFINITY); }},
      {"bad_datatype.nii", "datatype", [](auto& b) { poke<std::int16_t>(b, 70, 999); }},
      {"vox_offset_inside_header.nii", "vox_offset", [](auto& b) { poke<float>(b, 108, 10.0f); }},
      {"not_nifti.nii", "sizeof_hdr", [](auto& b) { poke<std::int32_t>(b, 0, 1234); }},
  };
  for (const auto& c : cases) {
    auto b = good;
    c.edit(b);
    write_file(tmp.str(c.name), b);
    SCOPED_TRACE(c.name);
    expect_refused(tmp.str(c.name), c.reason);
  }
  // A header alone, shorter than 348 bytes.
  write_file(tmp.str("short.nii"), std::vector<char>(good.begin(), good.begin() + 100));
  expect_refused(tmp.str("short.nii"), "too short");
  // The unedited bytes read fine, so the cases above fail for the edit alone.
  write_file(tmp.str("good.nii"), good);
  EXPECT_EQ(run_medsynth("info " + tmp.str("good.nii")).exit_code, 0);
}

TEST(BadInput, AVolumeLargerThanMemoryIsRefusedBeforeItIsRead) {
  // A .nii.gz can inflate far beyond its size, so its header's claim is checked against the
  // memory available before any voxel is read: 32767 x 32767 x 1000 int16 voxels are 2000 GiB of
  // data and 4000 GiB as float voxels.
  TempDir tmp;
  auto b = real_nifti_bytes();
  poke<std::int16_t>(b, 42, 32767);
  poke<std::int16_t>(b, 44, 32767);
  poke<std::int16_t>(b, 46, 1000);
  const std::string gz = tmp.str("huge.nii.gz");
  gzFile f = gzopen(gz.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, b.data(), static_cast<unsigned>(b.size())), static_cast<int>(b.size()));
  gzclose(f);
  auto r = run_medsynth("info " + gz, 60);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.err.rfind("medsynth: error: " + gz + ": needs 5999.6 GiB, ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(" GiB available"), std::string::npos) << r.err;
  // A plain file cannot hold what its header claims: still refused as truncated (exit 2).
  write_file(tmp.str("huge.nii"), b);
  expect_refused(tmp.str("huge.nii"), "truncated");
}

TEST(BadInput, ADicomSeriesLargerThanMemoryIsRefusedBeforeItsVolumeIsAllocated) {
  // A real series whose files all claim 65535 x 65535 pixels (a few kilobytes each claim 16 GiB
  // as float voxels): the reader checks the volume the headers add up to against the available
  // memory before the buffer is allocated, not only each file's pixel data as it is decoded.
  TempDir tmp;
  const std::string series = plastimatch_series(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "kmeans-dicom");
  copy_tree(series, tmp.str("huge"));
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(tmp.str("huge"))) {
    const auto m = run("dcmodify -nb -m \"(0028,0010)=65535\" -m \"(0028,0011)=65535\" " + e.path().string());
    ASSERT_EQ(m.exit_code, 0) << m.err;
    ++files;
  }
  ASSERT_GT(files, 30u);
  auto r = run_medsynth("info " + tmp.str("huge"), 60);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  char need[64];
  std::snprintf(need, sizeof need, "%.1f GiB", 65535.0 * 65535.0 * 4.0 * static_cast<double>(files) / (1u << 30));
  EXPECT_EQ(r.err.rfind("medsynth: error: " + tmp.str("huge") + ": needs " + need + ", ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(" GiB available"), std::string::npos) << r.err;
  // The unedited series reads.
  EXPECT_EQ(run_medsynth("info " + series).exit_code, 0);
}

TEST(BadInput, BrokenDicomFoldersAreRefusedThroughTheCli) {
  TempDir tmp;
  const std::string series = plastimatch_series(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "kmeans-dicom");
  copy_tree(series, tmp.str("missing"));
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(tmp.str("missing"))) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  fs::remove(files[30]);
  auto r = run_medsynth("convert " + tmp.str("missing") + " " + tmp.str("out.nii.gz"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("missing slice"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("out.nii.gz")));

  // An empty folder and a folder of non-DICOM files.
  fs::create_directories(tmp.str("nothing"));
  std::ofstream(tmp.str("nothing/notes.txt")) << "hello";
  expect_refused(tmp.str("nothing"), "no DICOM image found");
}

TEST(BadInput, ReaderApiThrowsInsteadOfCrashingOnEveryPydicomFile) {
  // Every file pydicom ships for its own tests goes through the reader: no crash, no hang.
  std::size_t read = 0, refused = 0;
  for (const auto& e : fs::directory_iterator(data_file(kPydicomData, "python3-pydicom"))) {
    if (e.path().extension() != ".dcm") continue;
    try {
      medsynth::io::read_volume(e.path().string());
      ++read;
    } catch (const medsynth::Error&) {
      ++refused;
    }
  }
  EXPECT_GT(read, 5u);
  EXPECT_GT(refused, 3u);
}
