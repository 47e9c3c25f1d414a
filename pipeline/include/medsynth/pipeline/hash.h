#pragma once
// Content fingerprints (XXH3-64 as 16 hex digits): the slice cache's key and the stage runner's
// fingerprints both use these.
#include <cstdint>
#include <limits>
#include <string>

namespace medsynth::pipeline {

// The file's content (its first `length` bytes when given: checkpoints seal their archive with the
// hash of everything before the seal); an unreadable or shorter file is refused (io::Error naming it).
std::string hash_file(const std::string& path, std::uint64_t length = std::numeric_limits<std::uint64_t>::max());
std::string hash_text(const std::string& text);

}  // namespace medsynth::pipeline
