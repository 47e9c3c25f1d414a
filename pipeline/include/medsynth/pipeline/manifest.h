#pragma once
// The manifest CSV (header: subject,image[,labels][,source][,class][,tr,te,ti,flip,field,age,sex,
// sequence,weighting]: acquisition.h) as rows, parsed without
// touching the files it names: ITK-free, so the fuzz harness builds it with clang. read_manifest
// (slice_dataset.h) parses and then checks every named file.
#include <nlohmann/json.hpp>

#include <istream>
#include <string>
#include <vector>

namespace medsynth::pipeline {

struct ManifestRow {
  std::string subject, image, labels, source;
  int class_id = -1;
  int line = 0;                // the manifest's line (0: a row of a BIDS dataset)
  // BIDS (data.bids): the session label and the file name's entities after sub- ("ses-a_run-1"),
  // and the acquisition keys of its sidecars (bids.h); empty for a manifest's rows.
  std::string session, entities;
  nlohmann::json acquisition;
  // Acquisition attributes in medsynth's units (acquisition.h): the manifest's attribute columns, or
  // a BIDS row's sidecar, suffix and participants.tsv row. The ingest adds the DICOM header's beneath.
  nlohmann::json attributes = nlohmann::json::object();
};

// One CSV line: fields split at commas outside double quotes, quotes dropped, '\r' dropped,
// surrounding white space trimmed.
std::vector<std::string> split_csv_line(const std::string& line);

// The rows of the manifest text `in` read from `path` (named in every error: io::Error, exit 2):
// header checked (subject and image required, no unknown column), blank lines and '#' comments
// skipped, subject and image required on every row, class an integer, relative paths resolved
// against the manifest's folder; at least one row.
std::vector<ManifestRow> parse_manifest(std::istream& in, const std::string& path);

}  // namespace medsynth::pipeline
