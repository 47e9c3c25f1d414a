#include "medsynth/pipeline/checkpoint_seal.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "medsynth/io/atomic_output.h"
#include "medsynth/io/error.h"
#include "medsynth/pipeline/hash.h"

namespace fs = std::filesystem;

namespace medsynth::pipeline {
namespace {

constexpr const char* kChecksumTag = "medsynth-xxh3:";
constexpr std::size_t kEndRecord = 22;  // the end-of-central-directory record without its comment

struct ZipEnd {
  bool found = false;
  std::uint64_t offset = 0;  // of the end record
  std::string comment;
};

// The zip end record of `path`: the last "PK\5\6" whose comment runs exactly to the end of the file.
ZipEnd find_zip_end(const std::string& path) {
  ZipEnd end;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return end;
  const auto size = static_cast<std::uint64_t>(in.tellg());
  if (size < kEndRecord) return end;
  const std::uint64_t tail_size = std::min<std::uint64_t>(size, kEndRecord + 0xffff);
  std::string tail(tail_size, '\0');
  in.seekg(static_cast<std::streamoff>(size - tail_size));
  in.read(tail.data(), static_cast<std::streamsize>(tail_size));
  if (!in) return end;
  for (std::uint64_t pos = tail_size - kEndRecord + 1; pos-- > 0;) {
    if (tail.compare(pos, 4, "PK\x05\x06") != 0) continue;
    const auto* b = reinterpret_cast<const unsigned char*>(tail.data() + pos);
    const std::uint64_t comment = static_cast<std::uint64_t>(b[20]) | (static_cast<std::uint64_t>(b[21]) << 8);
    if (pos + kEndRecord + comment != tail_size) continue;
    end.found = true;
    end.offset = size - tail_size + pos;
    end.comment = tail.substr(pos + kEndRecord);
    return end;
  }
  return end;
}

}  // namespace

std::string write_failure(const std::string& dir, const std::string& fallback) {
  const std::string full = io::no_space_left(dir);
  return full.empty() ? fallback : full;
}

void seal_archive(const std::string& file, const std::string& target) {
  const std::string dir = fs::path(target).parent_path().string();
  const ZipEnd end = find_zip_end(file);
  if (!end.found || !end.comment.empty()) {
    // A write that failed unnoticed (a full disk found only when the stream closed) cut it short.
    throw io::Error(target, "cannot write checkpoint: " + write_failure(dir, "the archive written has no zip end record"),
                    ExitCode::kRuntime);
  }
  const std::string comment = kChecksumTag + hash_file(file, end.offset + 20);
  std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
  const char length[2] = {static_cast<char>(comment.size() & 0xff), static_cast<char>(comment.size() >> 8)};
  f.seekp(static_cast<std::streamoff>(end.offset + 20));
  f.write(length, 2);
  f.write(comment.data(), static_cast<std::streamsize>(comment.size()));
  f.flush();
  if (!f) throw io::Error(target, "cannot write checkpoint: " + write_failure(dir, "write failed"), ExitCode::kRuntime);
}

bool verify_seal(const std::string& path) {
  const ZipEnd end = find_zip_end(path);
  if (!end.found || end.comment.rfind(kChecksumTag, 0) != 0) return false;
  const std::string want = end.comment.substr(std::strlen(kChecksumTag));
  const std::string got = hash_file(path, end.offset + 20);
  if (got != want) {
    throw io::Error(path, "checkpoint is damaged: its content hashes to " + got + " but was written as " + want +
                              " (changed after it was written: a bad copy or a failing disk); use an earlier checkpoint");
  }
  return true;
}

}  // namespace medsynth::pipeline
