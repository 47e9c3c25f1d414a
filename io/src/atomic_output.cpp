#include "medsynth/io/atomic_output.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
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

std::string random_suffix() {
  std::random_device rd;
  return std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000);
}

}  // namespace

AtomicOutput::AtomicOutput(const std::string& final_path, bool force)
    : final_path_(final_path), force_(force) {
  const fs::path target(final_path);
  if (target.filename().empty()) throw Error(final_path, "output path names a folder, not a file");
  std::error_code ec;
  if (fs::exists(target, ec) && !force) {
    throw Error(final_path, "output exists (use --force to replace it)");
  }
  if (fs::is_directory(target, ec)) throw Error(final_path, "output path is an existing folder");
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  if (!fs::is_directory(dir, ec)) throw Error(final_path, "output folder does not exist");
  remove_stale_temporaries(dir);
  fs::path tmp;
  bool created = false;
  for (int attempt = 0; attempt < 8 && !created; ++attempt) {
    tmp = dir / (kTempPrefix + random_suffix());
    created = fs::create_directory(tmp, ec) && !ec;
  }
  if (!created) {
    throw Error(final_path, "cannot create a temporary folder beside the output: " + ec.message(),
                ExitCode::kRuntime);
  }
  temp_dir_ = tmp.string();
  temp_path_ = (tmp / target.filename()).string();
}

AtomicOutput::~AtomicOutput() {
  std::error_code ec;
  if (!temp_dir_.empty()) fs::remove_all(temp_dir_, ec);
}

void AtomicOutput::commit() {
  const fs::path target(final_path_);
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  if (!fs::exists(temp_path_)) {
    throw Error(final_path_, "writer produced no file", ExitCode::kRuntime);
  }
  std::vector<fs::path> companions;
  for (const auto& entry : fs::directory_iterator(temp_dir_)) {
    fsync_path(entry.path());
    if (entry.path().filename() != target.filename()) companions.push_back(entry.path());
  }
  std::error_code ec;
  // Check every companion before moving any, so a refusal moves nothing.
  for (const auto& c : companions) {
    if (fs::exists(dir / c.filename()) && !force_) {
      throw Error((dir / c.filename()).string(), "output exists (use --force to replace it)");
    }
  }
  for (const auto& c : companions) {
    fs::path dest = dir / c.filename();
    fs::rename(c, dest, ec);
    if (ec) throw Error(dest.string(), "cannot move into place: " + ec.message(), ExitCode::kRuntime);
  }
  fs::rename(temp_path_, target, ec);
  if (ec) throw Error(final_path_, "cannot move into place: " + ec.message(), ExitCode::kRuntime);
  fsync_path(dir);
  committed_ = true;
}

std::string no_space_left(const std::string& dir) {
  struct statvfs st {};
  if (::statvfs(dir.empty() ? "." : dir.c_str(), &st) != 0) return "";
  const auto free_bytes = static_cast<unsigned long long>(st.f_bavail) * st.f_frsize;
  if (free_bytes >= (1ull << 20)) return "";
  return "no space left on the device (" + std::to_string(free_bytes) + " bytes free)";
}

void rethrow_on_target(const std::string& target, bool folder) {
  std::string message;
  ExitCode code = ExitCode::kRuntime;
  try {
    throw;
  } catch (const medsynth::Error& e) {
    message = e.what();
    code = e.code();
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    message = e.what();
  }
  const fs::path t(target);
  const std::string parent = t.parent_path().empty() ? std::string(".") : t.parent_path().string();
  // <parent>/.medsynth-tmp-<pid>-<n> is the target file's folder, or the target folder itself.
  const std::string temp = (t.parent_path().empty() ? std::string() : parent + "/") + kTempPrefix;
  for (std::size_t at = message.find(temp); at != std::string::npos; at = message.find(temp, at + 1)) {
    std::size_t end = at + temp.size();
    while (end < message.size() && (std::isdigit(static_cast<unsigned char>(message[end])) || message[end] == '-')) ++end;
    if (!folder && t.parent_path().empty() && end < message.size() && message[end] == '/') ++end;  // "x.nii"
    const std::string with = folder ? target : t.parent_path().string();
    message.replace(at, end - at, with);
    at += with.size();
  }
  if (code == ExitCode::kRuntime) {
    const std::string full = no_space_left(parent);
    if (!full.empty()) throw Error(target, "cannot be written: " + full, ExitCode::kRuntime);
  }
  throw medsynth::Error(message, code);
}

void write_text_atomically(const std::string& path, const std::string& text, bool force) {
  AtomicOutput out(path, force);
  try {
    {
      std::ofstream f(out.temp_path(), std::ios::binary | std::ios::trunc);
      f << text;
      if (!f.flush()) throw Error(path, "cannot be written", ExitCode::kRuntime);
    }
    out.commit();
  } catch (...) {
    rethrow_on_target(path, false);
  }
}

}  // namespace medsynth::io
