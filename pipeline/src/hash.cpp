#include "medsynth/pipeline/hash.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <vector>

#include "medsynth/io/error.h"

namespace medsynth::pipeline {
namespace {

std::string hex64(unsigned long long h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", h);
  return buf;
}

}  // namespace

std::string hash_text(const std::string& text) { return hex64(XXH3_64bits(text.data(), text.size())); }

std::string hash_file(const std::string& path, std::uint64_t length) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io::Error(path, "cannot be read (an input of the run)");
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  std::vector<char> buf(1 << 20);
  std::uint64_t left = length;
  while (in && left > 0) {
    in.read(buf.data(), static_cast<std::streamsize>(std::min<std::uint64_t>(buf.size(), left)));
    const auto got = static_cast<std::size_t>(in.gcount());
    XXH3_64bits_update(st, buf.data(), got);
    left -= got;
  }
  const auto h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  if (left > 0 && length != std::numeric_limits<std::uint64_t>::max()) {
    throw io::Error(path, "is shorter than " + std::to_string(length) + " bytes");
  }
  return hex64(h);
}

}  // namespace medsynth::pipeline
