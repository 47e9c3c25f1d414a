#pragma once
// Synthetic DICOM export: a Volume as a series of single-frame MR Image Storage files, one per
// slice along the third index axis (or one Enhanced MR Image Storage file of as many frames),
// clearly marked synthetic and carrying no real identity.
// docs/dicom-export.md lists every attribute written and why.
#include <string>
#include <vector>

#include "medsynth/io/volume.h"

namespace medsynth::io {

struct DicomWriteOptions {
  bool force = false;  // replace an existing output folder
  // UID root (an organisation's registered prefix); empty: 2.25.<random UUID> UIDs.
  std::string uid_root;
  // Optional real DICOM file whose acquisition context (equipment, MR sequence parameters) is
  // carried over after PS3.15 Annex E basic-profile de-identification. No identity, no UID and no
  // private attribute of it reaches the output.
  std::string template_path;
  // Provenance for DerivationDescription: which model family and checkpoint made the voxels.
  std::string model_family = "none";
  std::string checkpoint = "none";
  // A patient the user maps the series to; empty: PatientName SYNTHETIC^MEDSYNTH and a generated
  // PatientID "SYN-<16 hex digits>".
  std::string patient_name;
  std::string patient_id;
  std::string series_description;  // written after the "SYNTHETIC " prefix
  int series_number = 9001;
  // One Enhanced MR Image Storage file (IM0001.dcm) holding every slice as a frame, with shared and
  // per-frame functional groups, instead of one MR Image Storage file per slice.
  bool enhanced = false;
};

struct DicomWriteResult {
  std::string folder;
  std::vector<std::string> files;  // IM0001.dcm ... in slice order (enhanced: IM0001.dcm alone)
  std::string study_uid, series_uid, frame_of_reference_uid;
  double rescale_slope = 1, rescale_intercept = 0;  // one pair for the whole series
};

// Writes `volume` into the folder `out_dir` (created; its parent must exist) atomically: all files
// go to a temporary folder beside it that is renamed into place only when every slice is written.
// Throws io::Error: output exists without force (2), unreadable template (2), write failure (3).
DicomWriteResult write_dicom_series(const Volume& volume, const std::string& out_dir,
                                    const DicomWriteOptions& options = {});

// The integer mapping used for a voxel range: stored = round((value - intercept) / slope) fits
// int16. Integer volumes whose range spans at most 65536 values are stored exactly (slope 1).
// `all_integer`: every voxel is a whole number. Exposed for tests.
struct Rescale {
  double slope = 1, intercept = 0;
};
Rescale choose_rescale(double lo, double hi, bool all_integer);

}  // namespace medsynth::io
