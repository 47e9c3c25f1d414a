#pragma once
// Helpers shared by the tests: real data paths, running the binary and tools, temp folders.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace medsynth::test {

namespace fs = std::filesystem;

inline const std::string kTemplates = "/usr/share/mricron/templates/";
inline const std::string kItkData = "/usr/share/doc/insighttoolkit5-examples/examples/Data/";
inline const std::string kPydicomData = "/usr/lib/python3/dist-packages/pydicom/data/test_files/";
inline const std::string kNibabelData = "/usr/lib/python3/dist-packages/nibabel/tests/data/";
inline const std::string kNicomData = "/usr/lib/python3/dist-packages/nibabel/nicom/tests/data/";
// Debian's python3 (with nibabel, pydicom, skimage), not whatever python3 is first on PATH.
inline const std::string kPython = "/usr/bin/python3";

// The path to a data file; the test fails (not skips) naming the Debian package when it is missing.
std::string data_file(const std::string& path, const std::string& package);

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
};
// Runs a shell command line, capturing stdout and stderr, with a time limit in seconds.
RunResult run(const std::string& command, int timeout_s = 300);
// Runs the medsynth binary with the given argument string.
RunResult run_medsynth(const std::string& args, int timeout_s = 300);
// Runs Debian's python3 with a script given as text.
RunResult python(const std::string& script, int timeout_s = 120);

// A fresh folder removed at scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const fs::path& path() const { return path_; }
  std::string str(const std::string& name = "") const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// A DICOM series of `nifti` written by plastimatch, made once and cached in the build tree
// (shared by test processes under a lock). Returns its folder.
std::string plastimatch_series(const std::string& nifti, const std::string& name);

// Copies a folder tree.
void copy_tree(const std::string& from, const std::string& to);

}  // namespace medsynth::test
