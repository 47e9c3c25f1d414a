#pragma once
// De-identification of real DICOM files with the PS3.15 Annex E Basic Application Confidentiality
// Profile (docs/dicom-export.md has the table of what happens to which attribute).
#include <string>
#include <vector>

namespace medsynth::io {

struct DeidentifyOptions {
  bool force = false;    // replace an existing output
  std::string uid_root;  // root for the replacement UIDs; empty: 2.25.<random UUID>
};

struct DeidentifyResult {
  std::vector<std::string> outputs;  // one per input image, named IM0001.dcm ... (never from values)
  std::vector<std::string> skipped;  // "<file>: <why>" for files that are not DICOM
  std::size_t uids_replaced = 0;     // distinct source UIDs given new values
};

// IN is a DICOM file (OUT is then the output file) or a folder searched recursively (OUT is then
// a folder holding one de-identified copy per input image, written atomically). UIDs are replaced
// consistently within the run, so the copies keep their study/series/frame-of-reference structure
// and references, but no UID of the source appears in any output.
// Throws io::Error: nothing readable (2), burned-in annotation (2), output exists (2), write (3).
DeidentifyResult deidentify(const std::string& in, const std::string& out, const DeidentifyOptions& options = {});

}  // namespace medsynth::io
