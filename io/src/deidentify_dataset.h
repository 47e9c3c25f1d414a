#pragma once
// The de-identification of one dataset, shared by `medsynth deidentify` and the synthetic writer's
// template handling (so a template goes through exactly the same profile).
#include <map>
#include <string>

#include "dicom_common.h"

namespace medsynth::io::detail {

// State kept across the files of one run, so that related files stay related.
struct DeidentifyContext {
  std::string uid_root;
  std::map<std::string, std::string> uids;      // source UID -> replacement
  std::map<std::string, std::string> patients;  // source PatientID -> replacement
  std::string replace_uid(const std::string& source);
};

// Applies the Basic Profile to `ds` in place (recursing into sequences) and adds the
// PatientIdentityRemoved / DeidentificationMethod(CodeSequence) marking. Throws io::Error naming
// `path` when the pixels may hold burned-in identity (BurnedInAnnotation YES).
void deidentify_dataset(DcmDataset& ds, DeidentifyContext& ctx, const std::string& path);

// Adds the de-identification marking alone (used by the synthetic writer with a template).
void mark_deidentified(DcmItem& ds);

}  // namespace medsynth::io::detail
