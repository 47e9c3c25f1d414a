#pragma once
// A config value that is a comma-separated list of integers (model.channels, utility.channels).
#include <string>
#include <vector>

namespace medsynth::pipeline {

// "32,64,128" -> {32, 64, 128}; throws ConfigError naming `key` when a token is not an integer or
// the list is empty.
std::vector<int> parse_int_list(const std::string& key, const std::string& text);

}  // namespace medsynth::pipeline
