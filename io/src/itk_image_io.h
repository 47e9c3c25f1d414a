#pragma once
// The one place where ITK images and medsynth volumes meet (internal to medsynth_io).
#include <string>

#include "medsynth/io/volume.h"

namespace medsynth::io::detail {

Volume itk_read_volume(const std::string& path);
LabelVolume itk_read_label_volume(const std::string& path);
// Writes `path` (a temporary name chosen by AtomicOutput) with the given component type.
void itk_write_volume(const Volume& v, const std::string& path, PixelType type);
void itk_write_label_volume(const LabelVolume& v, const std::string& path, PixelType type);

}  // namespace medsynth::io::detail
