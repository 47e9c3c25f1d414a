#pragma once
// The root of medsynth's error hierarchy. Each library derives one type (io::Error, config::Error,
// ...). Context is added by rethrowing with a prefix, so the user reads the chain outermost first:
//   medsynth: error: while converting a.nii.gz: a.nii.gz: NIfTI header: dim[0] = 0 (must be 1..7)
#include <stdexcept>
#include <string>

namespace medsynth {

// Process exit codes (docs/cli.md documents them).
enum class ExitCode : int { kOk = 0, kUsage = 1, kBadInput = 2, kRuntime = 3 };

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, ExitCode code = ExitCode::kRuntime)
      : std::runtime_error(what), code_(code) {}
  // Rethrow with added context; the exit code of the cause is kept.
  Error(const Error& cause, const std::string& context)
      : std::runtime_error(context + ": " + cause.what()), code_(cause.code_) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// Wrong command-line usage: unknown option, missing argument (exit code 1).
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(what, ExitCode::kUsage) {}
};

}  // namespace medsynth
