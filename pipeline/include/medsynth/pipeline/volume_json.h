#pragma once
// JSON descriptions of volumes and DICOM series, shared by `info` and reports.
#include <nlohmann/json.hpp>

#include <vector>

#include "medsynth/io/volume.h"
#include "medsynth/io/volume_io.h"

namespace medsynth::pipeline {

nlohmann::json volume_json(const io::Volume& v);
nlohmann::json series_json(const std::vector<io::DicomSeriesInfo>& series);
// The text form of `medsynth info` from its JSON.
std::string format_info_text(const nlohmann::json& info);

}  // namespace medsynth::pipeline
