#pragma once
// Nothing half-written: an output is produced under a temporary folder beside the target and
// moved into place by commit(). A writer that fails (or throws) leaves no file at the target.
#include <string>
#include <vector>

namespace medsynth::io {

class AtomicOutput {
 public:
  // Refuses (io::Error) when `final_path` exists and !force, or its folder does not exist.
  AtomicOutput(const std::string& final_path, bool force);
  ~AtomicOutput();  // removes the temporary folder unless committed
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  // Where the writer writes: same file name as the target, inside the temporary folder, so
  // formats whose header names its data file (.mhd + .raw, .nhdr + .raw) stay consistent.
  const std::string& temp_path() const { return temp_path_; }
  const std::string& final_path() const { return final_path_; }

  // fsyncs and renames every file of the temporary folder into the target folder: companion
  // data files first, the named target last, so a reader never sees a header without its data.
  void commit();

 private:
  std::string final_path_;
  std::string temp_dir_;
  std::string temp_path_;
  bool force_;
  bool committed_ = false;
};

// "no space left on the device (<n> bytes free)" when the file system of `dir` has less than
// 1 MiB left for this process, else "".
std::string no_space_left(const std::string& dir);

// Call inside a catch block around an AtomicOutput or AtomicFolder writing `target` (a file, or
// with `folder` a folder): gives the error again on the target, which is what the user named.
// Temporary names (.medsynth-tmp-*) in its message become the target's, and a write failure
// (exit code 3) on a full file system reads "<target>: cannot be written: no space left on the
// device (<n> bytes free)". Other errors pass unchanged.
[[noreturn]] void rethrow_on_target(const std::string& target, bool folder);

// A text file (JSON, INI, TSV, HTML) written through AtomicOutput: the whole text or nothing.
void write_text_atomically(const std::string& path, const std::string& text, bool force = true);

}  // namespace medsynth::io
