#pragma once
// The root of medsynth's error hierarchy. Each library derives one type (io::Error, config::Error,
// ...). Context is added by rethrowing with a prefix, so the user reads the chain outermost first:
//   medsynth: error: while converting a.nii.gz: a.nii.gz: NIfTI header: dim[0] = 0 (must be 1..7)
#include <stdexcept>
#include <string>

namespace medsynth {

// Process exit codes (docs/troubleshooting.md documents them). kStopped (75, sysexits.h's
// EX_TEMPFAIL; `detect` has its own 4 and 5): a stop signal (SIGTERM, SIGINT, SIGUSR1) ended the
// work after saving it; the same command again (train: with --resume) continues it.
enum class ExitCode : int { kOk = 0, kUsage = 1, kBadInput = 2, kRuntime = 3, kStopped = 75 };

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
