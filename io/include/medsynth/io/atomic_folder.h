#pragma once
// The folder version of AtomicOutput: a whole set of files (a DICOM series, a pulled series) is
// written into a hidden temporary folder beside the target folder and renamed into place in one
// step by commit(), so no reader ever sees a partial series that looks complete.
#include <string>

namespace medsynth::io {

class AtomicFolder {
 public:
  // Refuses (io::Error, exit 2) an existing target unless `force`, a target that is a file, and a
  // target whose parent folder does not exist. Creates the temporary folder at once.
  AtomicFolder(const std::string& final_dir, bool force);
  ~AtomicFolder();  // removes the temporary folder unless committed
  AtomicFolder(const AtomicFolder&) = delete;
  AtomicFolder& operator=(const AtomicFolder&) = delete;

  // Where the writer puts its files (a folder that exists).
  const std::string& temp_dir() const { return temp_dir_; }
  const std::string& final_dir() const { return final_dir_; }

  // fsyncs every file, then renames the temporary folder to the target. With force, an existing
  // target is first moved aside and removed only after the rename succeeded.
  void commit();

 private:
  std::string final_dir_;
  std::string temp_dir_;
  bool force_;
  bool committed_ = false;
};

}  // namespace medsynth::io
