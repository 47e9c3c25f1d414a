#include "medsynth/io/atomic_folder.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <system_error>

#include "file_utils.h"
#include "medsynth/io/error.h"

namespace fs = std::filesystem;

namespace medsynth::io {
namespace {

using detail::fsync_path;
using detail::kTempPrefix;
using detail::remove_stale_temporaries;

fs::path parent_of(const fs::path& target) {
  fs::path dir = target.parent_path();
  return dir.empty() ? fs::path(".") : dir;
}

fs::path make_temp_beside(const fs::path& dir, const std::string& what) {
  std::random_device rd;
  std::error_code ec;
  for (int attempt = 0; attempt < 8; ++attempt) {
    fs::path tmp = dir / (kTempPrefix + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000));
    if (fs::create_directory(tmp, ec) && !ec) return tmp;
  }
  throw Error(what, "cannot create a temporary folder beside the output: " + ec.message(), ExitCode::kRuntime);
}

}  // namespace

AtomicFolder::AtomicFolder(const std::string& final_dir, bool force) : force_(force) {
  fs::path target(final_dir);
  // "out/" names the folder "out": drop the trailing separator so parent_path() is its parent.
  while (target.has_relative_path() && target.filename().empty()) target = target.parent_path();
  final_dir_ = target.string();
  std::error_code ec;
  if (fs::exists(target, ec)) {
    if (!fs::is_directory(target, ec)) throw Error(final_dir_, "output exists and is not a folder");
    if (!force) throw Error(final_dir_, "output folder exists (use --force to replace it)");
  }
  const fs::path dir = parent_of(target);
  if (!fs::is_directory(dir, ec)) throw Error(final_dir_, "the folder that should hold the output does not exist");
  remove_stale_temporaries(dir);
  temp_dir_ = make_temp_beside(dir, final_dir_).string();
}

AtomicFolder::~AtomicFolder() {
  std::error_code ec;
  if (!committed_ && !temp_dir_.empty()) fs::remove_all(temp_dir_, ec);
}

void AtomicFolder::commit() {
  const fs::path target(final_dir_);
  const fs::path dir = parent_of(target);
  for (const auto& entry : fs::directory_iterator(temp_dir_)) fsync_path(entry.path());
  fsync_path(temp_dir_);
  std::error_code ec;
  fs::path aside;
  if (fs::exists(target, ec)) {
    if (!force_) throw Error(final_dir_, "output folder exists (use --force to replace it)");
    // rename() cannot replace a non-empty folder: move the old one aside first (a temporary
    // name that a later run removes if this process dies before removing it itself).
    aside = make_temp_beside(dir, final_dir_);
    fs::remove(aside, ec);
    fs::rename(target, aside, ec);
    if (ec) throw Error(final_dir_, "cannot move the old output aside: " + ec.message(), ExitCode::kRuntime);
  }
  fs::rename(temp_dir_, target, ec);
  if (ec) {
    std::error_code ignored;
    if (!aside.empty()) fs::rename(aside, target, ignored);
    throw Error(final_dir_, "cannot move into place: " + ec.message(), ExitCode::kRuntime);
  }
  committed_ = true;
  fsync_path(dir);
  if (!aside.empty()) fs::remove_all(aside, ec);
}

}  // namespace medsynth::io
