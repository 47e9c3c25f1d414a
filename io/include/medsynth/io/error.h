#pragma once
#include <string>

#include "medsynth/error.h"

namespace medsynth::io {

// A file that cannot be read or written as asked. The message always starts with the path.
// Default exit code: 2 (bad input); a write failure uses kRuntime.
class Error : public medsynth::Error {
 public:
  Error(const std::string& path, const std::string& reason, ExitCode code = ExitCode::kBadInput)
      : medsynth::Error(path + ": " + reason, code) {}
  using medsynth::Error::Error;
};

}  // namespace medsynth::io
