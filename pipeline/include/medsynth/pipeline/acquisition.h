#pragma once
// Acquisition attributes of a scan (docs/models.md, "Acquisition conditioning"): what the ingest
// reads from DICOM headers, BIDS sidecars / participants.tsv and manifest columns, in one set of
// units, and how a model's attribute vector is laid out. No ITK, no LibTorch.
//
// Attributes are a JSON object with canonical names: tr, te, ti (ms), flip (degrees), field (T),
// age (years), sex (0 male, 1 female), and the words sequence (mprage, spgr, gre, se, tse, ir,
// flair, epi) and weighting (t1w, t2w, pdw, t2starw, flair). Age and sex are patient data: they
// are kept in the slice cache as conditions and never written into synthetic outputs.
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace medsynth::pipeline {

struct AttributeSpec {
  std::string name, unit, description;
  std::vector<std::string> words;  // the values of a word attribute; empty for a number
};
const std::vector<AttributeSpec>& attribute_specs();
const AttributeSpec* find_attribute(const std::string& name);
std::string attribute_names();  // "tr, te, ti, flip, field, age, sex, sequence, weighting"

// DICOM: io's reader puts the tags into Volume::metadata as "dicom.<Keyword>" (RepetitionTime,
// EchoTime, InversionTime, FlipAngle, MagneticFieldStrength, ScanningSequence, SequenceVariant,
// MRAcquisitionType, SequenceName, PatientAge, PatientSex); DICOM times are already ms.
nlohmann::json attributes_from_dicom(const std::map<std::string, std::string>& metadata);
// BIDS: the sidecar keys (bids_acquisition_keys(): times in seconds, converted to ms), the
// participants.tsv row (age, sex columns) and the image's suffix (T1w, T2w, PDw, FLAIR, T2starw).
// `where` names the file in errors.
nlohmann::json attributes_from_bids(const nlohmann::json& sidecar, const std::map<std::string, std::string>& participant,
                                    const std::string& suffix, const std::string& where);
// One text value of attribute `name` (a manifest cell, a prompt's value): numbers with an optional
// unit (ms or s for times, deg, T, y or DICOM's 070Y / 006M ages), sex M/F, words normalised.
// Throws io::Error(where, ...) naming the attribute and what it takes.
nlohmann::json parse_attribute(const std::string& name, const std::string& text, const std::string& where);
// The normalised sequence name from DICOM's ScanningSequence / SequenceVariant / MRAcquisitionType
// (and the inversion time: an inversion-recovery spin echo with TI >= 1500 ms is a FLAIR); "" when
// the values say nothing.
std::string normalise_sequence(const std::string& scanning, const std::string& variant, const std::string& type, double ti);

// `over` wins over `under` key by key.
nlohmann::json merge_attributes(const nlohmann::json& under, const nlohmann::json& over);

// The layout of a model's acquisition vector: one slot per number (standardised: (v - offset) /
// scale over the training scans), one per word of a word attribute (one-hot over the words seen
// in training). Each slot has a mask: 0 = not given (missing from a scan, left out of a prompt, or
// dropped for classifier-free guidance). Stored as text in the model config
// (ModelConfig::acquisition_encoding): "tr:2300:1200;sequence=mprage|se".
struct AcquisitionSlot {
  std::string name;
  double offset = 0, scale = 1;
  std::vector<std::string> words;
};
struct AcquisitionEncoding {
  std::vector<AcquisitionSlot> attributes;
  int width() const;
  std::string text() const;
  static AcquisitionEncoding parse(const std::string& text);  // throws medsynth::Error (exit 2)
  std::vector<std::string> names() const;
  // values and mask of one scan's attributes, width() each; an attribute the scan lacks is masked.
  // A word outside the trained words throws a UsageError naming them.
  void encode(const nlohmann::json& attributes, float* values, float* mask) const;
};
// Fits the encoding of `names` (model.acquisition: "tr,te,ti") to the training scans' attributes;
// ConfigError for an unknown name, io::Error(dataset, ...) when no scan has an attribute.
AcquisitionEncoding fit_acquisition_encoding(const std::string& names, const std::vector<nlohmann::json>& scans,
                                             const std::string& dataset);

}  // namespace medsynth::pipeline
