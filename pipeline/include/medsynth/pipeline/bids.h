#pragma once
// BIDS in and out (docs/bids.md): a BIDS dataset read as the rows the ingest reads (data.bids,
// instead of a hand-written manifest), and synthetic volumes written as a BIDS derivatives dataset.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "medsynth/pipeline/config.h"
#include "medsynth/pipeline/slice_dataset.h"

namespace medsynth::pipeline {

// The rows of the BIDS dataset data.bids: one per image
// sub-<label>[/ses-<label>]/anat/sub-<label>[_ses-<label>][_<key>-<value>...]_<data.bids_suffix>.nii[.gz],
// in the order of their paths. subject = the sub- label; entities = the file name's entities after
// sub- ("ses-a_run-2", or ""); labels = the _dseg label map with the image's entities in
// derivatives/<data.bids_labels>/ (read only when data.labels needs label files); source = the
// image with the same entities and the suffix data.bids_source (when set); acquisition = the
// acquisition keys of the sidecars that apply to the image (BIDS inheritance principle: dataset,
// subject, session and file level, the deeper one winning). A malformed dataset is refused with
// an io::Error (exit 2) naming the file and the rule it breaks, before any image is read.
std::vector<ManifestRow> read_bids(const DataConfig& data);

// The dataset's rows: data.manifest or data.bids (ConfigError when neither or both are set).
std::vector<ManifestRow> read_dataset(const DataConfig& data);
// What names the dataset in messages: the manifest's path or the BIDS folder.
std::string dataset_path(const DataConfig& data);

// A BIDS label: one or more ASCII letters or digits.
bool is_bids_label(const std::string& s);

// The sidecar keys read into ManifestRow::acquisition (acquisition parameters only: nothing that
// names a person, a place or a date).
const std::vector<std::string>& bids_acquisition_keys();

struct BidsDerivativeVolume {
  std::string subject;         // the sub- label (letters and digits)
  std::string entities;        // between sub-<label>_ and _desc-synthetic, e.g. "ses-a_run-1" or ""
  std::string suffix = "T1w";
  std::string volume;          // the synthetic volume (any format medsynth reads); written as .nii.gz
  nlohmann::json sidecar;      // provenance and the synthetic mark; "Synthetic": true is always added
};

struct BidsDerivativeDataset {
  std::string name;            // dataset_description.json Name
  std::string generated_by;    // GeneratedBy[0].Description: the model and its checkpoint
  std::vector<BidsDerivativeVolume> volumes;
};

// Writes `out_dir` as a BIDS derivatives dataset (dataset_description.json with DatasetType
// derivative and GeneratedBy naming medsynth and its version, README, and per volume
// sub-<label>/[ses-<label>/]anat/sub-<label>[_<entities>]_desc-synthetic_<suffix>.nii.gz with its
// JSON sidecar), all in a temporary folder renamed into place at the end: nothing is left behind
// on failure. An existing out_dir is refused unless `force`. Returns the written files' paths
// relative to out_dir.
std::vector<std::string> write_bids_derivatives(const BidsDerivativeDataset& dataset, const std::string& out_dir,
                                                bool force);

}  // namespace medsynth::pipeline
