#pragma once
// The frames of one series arranged as volumes: sorted along the slice normal, and split along a
// 4th dimension (time, diffusion, ...) when several frames share each position.
#include <array>
#include <string>
#include <vector>

#include "dicom_frames.h"

namespace medsynth::io::detail {

struct VolumeGrid {
  std::array<double, 3> row{1, 0, 0}, col{0, 1, 0}, normal{0, 0, 1};
  // volumes[t][k]: frame k (sorted along the normal) of volume t; one volume for a 3-D series.
  std::vector<std::vector<const DicomFrame*>> volumes;
  // What differs between the volumes, "name: values" each (empty for one volume).
  std::vector<std::string> varies;
  double along(const DicomFrame& f) const { return f.ipp[0] * normal[0] + f.ipp[1] * normal[1] + f.ipp[2] * normal[2]; }
};

// Checks that the frames can be stacked (one size, orientation and pixel spacing) and arranges
// them. Throws io::Error naming `path` and the frames at fault: two frames at one position that
// nothing tells apart, a position with fewer frames than the others.
VolumeGrid arrange_frames(const std::string& path, const std::vector<DicomFrame>& frames);

// The spacing along the normal of one volume's sorted frames; refuses missing or uneven slices.
double slice_spacing(const std::string& path, const VolumeGrid& grid, const std::vector<const DicomFrame*>& volume);

}  // namespace medsynth::io::detail
