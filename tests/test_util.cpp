#include "test_util.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

namespace medsynth::test {

std::string data_file(const std::string& path, const std::string& package) {
  if (!fs::exists(path)) {
    ADD_FAILURE() << "missing " << path << ": install the Debian package '" << package
                  << "' (scripts/setup.sh does)";
  }
  return path;
}

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}
}  // namespace

RunResult run(const std::string& command, int timeout_s) {
  TempDir tmp;
  const std::string out = tmp.str("out"), err = tmp.str("err");
  // timeout(1) turns a hang into exit 124 instead of a stuck test.
  const std::string full = "timeout -s KILL " + std::to_string(timeout_s) + " bash -c " +
                           shell_quote(command) + " >" + out + " 2>" + err + " </dev/null";
  const int status = std::system(full.c_str());
  RunResult r;
  r.out = slurp(out);
  r.err = slurp(err);
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
    // bash reports a child killed by signal N as exit 128+N.
    if (r.exit_code > 128 && r.exit_code < 160) r.signal = r.exit_code - 128, r.exit_code = -1;
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }
  return r;
}

RunResult run_medsynth(const std::string& args, int timeout_s) {
  return run(std::string(MEDSYNTH_BINARY) + " " + args, timeout_s);
}

RunResult python(const std::string& script, int timeout_s) {
  TempDir tmp;
  const std::string file = tmp.str("script.py");
  std::ofstream(file) << script;
  return run(kPython + " " + file, timeout_s);
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = fs::temp_directory_path() / ("medsynth-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string plastimatch_series(const std::string& nifti, const std::string& name) {
  const fs::path cache = fs::path(MEDSYNTH_TEST_CACHE);
  fs::create_directories(cache);
  const fs::path dir = cache / name;
  const std::string lock_path = (cache / (name + ".lock")).string();
  int fd = ::open(lock_path.c_str(), O_CREAT | O_RDWR, 0644);
  ::flock(fd, LOCK_EX);
  if (!fs::exists(dir)) {
    const fs::path tmp = cache / (name + ".partial");
    fs::remove_all(tmp);
    auto r = run("plastimatch convert --input " + nifti + " --output-dicom " + tmp.string(), 600);
    if (r.exit_code != 0) {
      ::flock(fd, LOCK_UN);
      ::close(fd);
      ADD_FAILURE() << "plastimatch failed (install the Debian package 'plastimatch'): " << r.err;
      return dir.string();
    }
    fs::rename(tmp, dir);
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return dir.string();
}

void copy_tree(const std::string& from, const std::string& to) {
  fs::create_directories(to);
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

}  // namespace medsynth::test
