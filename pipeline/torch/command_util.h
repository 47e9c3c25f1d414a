#pragma once
// Shared by the LibTorch commands (train, sample, edit, run, demo).
#include <c10/util/Exception.h>

#include <string>
#include <vector>

#include "medsynth/error.h"
#include "medsynth/pipeline/command.h"

namespace medsynth::pipeline {

// LibTorch's errors carry a C++ backtrace in what(); the user gets the message alone.
template <typename Fn>
int without_backtraces(Fn fn) {
  try {
    return fn();
  } catch (const c10::Error& e) {
    throw medsynth::Error(std::string("LibTorch: ") + e.what_without_backtrace(), ExitCode::kRuntime);
  }
}

// The --section.key overrides given on the command line.
inline std::vector<std::string> overrides_of(const po::variables_map& vm) {
  return vm.count(kOverridesKey) ? vm[kOverridesKey].as<std::vector<std::string>>() : std::vector<std::string>{};
}

}  // namespace medsynth::pipeline
