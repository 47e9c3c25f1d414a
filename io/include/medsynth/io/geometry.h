#pragma once
// Physical geometry of a 3-D voxel grid in the LPS frame used by ITK and DICOM:
// x grows to the patient's Left, y to Posterior, z to Superior.
#include <array>
#include <cstddef>
#include <string>

namespace medsynth::io {

struct Geometry {
  std::array<std::size_t, 3> size{1, 1, 1};
  std::array<double, 3> spacing{1.0, 1.0, 1.0};  // mm
  std::array<double, 3> origin{0.0, 0.0, 0.0};   // mm, centre of voxel (0,0,0)
  // Row-major 3x3; column c is the unit physical direction of index axis c (ITK convention).
  std::array<double, 9> direction{1, 0, 0, 0, 1, 0, 0, 0, 1};

  std::size_t voxel_count() const { return size[0] * size[1] * size[2]; }
  double dir(int row, int col) const { return direction[3 * row + col]; }

  // Physical (LPS, mm) position of a continuous index.
  std::array<double, 3> index_to_physical(double i, double j, double k) const;
  std::array<double, 3> physical_to_index(const std::array<double, 3>& p) const;

  // Three letters naming where each index axis points (nibabel/DICOM convention, so ch2.nii.gz is
  // "RAS"): x → R or L, y → A or P, z → S or I, by the dominant component of each direction.
  std::string orientation_code() const;

  // The index axes nearest the physical L, P and S directions: for L, P, S in turn, the unused
  // index axis whose direction has the largest component along it (oblique volumes get the
  // nearest axis-aligned reading). [2] is the axial slice axis the models sample along.
  std::array<int, 3> canonical_axes() const;

  // Same size, and spacing, origin and direction within tolerance_mm of another geometry.
  bool same_grid(const Geometry& other, double tolerance_mm = 1e-4) const;
};

// Throws io::Error (naming `source`) when spacing is not finite/positive or the direction is not
// orthonormal: every reader funnels its result through this check.
void validate_geometry(const Geometry& g, const std::string& source);

}  // namespace medsynth::io
