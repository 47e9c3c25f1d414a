#pragma once
#include <string>

#include "medsynth/io/volume.h"
#include "medsynth/io/volume_io.h"

namespace medsynth::io::detail {

// Reads one DICOM series from a file, a folder or a folder tree (see volume_io.h ReadOptions).
Volume read_dicom_series(const std::string& path, const ReadOptions& options);

}  // namespace medsynth::io::detail
