#pragma once
// Content fingerprints (XXH3-64 as 16 hex digits): the slice cache's key and the stage runner's
// fingerprints both use these.
#include <string>

namespace medsynth::pipeline {

// The file's content; an unreadable file is refused (io::Error naming it).
std::string hash_file(const std::string& path);
std::string hash_text(const std::string& text);

}  // namespace medsynth::pipeline
