#pragma once
// The map between a volume's voxels and the square training slices: reorientation to one
// canonical orientation (index axes pointing L, P, S: axial slices along the third axis) and
// in-plane resampling to grid x grid with square pixels, centred, padding outside. It runs both
// ways, so a synthetic stack goes back onto the grid of the volume it was made for.
#include <array>
#include <cstdint>
#include <vector>

#include "medsynth/io/volume.h"

namespace medsynth::pipeline {

class SliceGrid {
 public:
  SliceGrid(const io::Geometry& geometry, int grid);

  int grid() const { return grid_; }
  std::size_t slices() const { return canonical_size_[2]; }
  // Normalised position of slice k along the canonical axis, 0 (inferior) .. 1 (superior).
  float position(std::size_t k) const;

  // Z x grid x grid slices (canonical order), bilinear; outside the volume: `fill`.
  std::vector<float> resample(const io::Volume& v, float fill) const;
  // The same with nearest-neighbour, for label maps.
  std::vector<std::int32_t> resample_labels(const io::LabelVolume& v) const;
  // A Z x grid x grid stack back onto the original grid (bilinear in-plane).
  io::Volume restore(const std::vector<float>& stack, const io::Geometry& original) const;

 private:
  // Original voxel index of canonical index (i, j, k).
  std::size_t original_index(std::size_t i, std::size_t j, std::size_t k) const;
  double canonical_coordinate(int axis, double u) const;  // grid coordinate → canonical index
  double grid_coordinate(int axis, double i) const;       // canonical index → grid coordinate

  io::Geometry original_;
  int grid_;
  std::array<int, 3> perm_{};   // canonical axis a is original index axis perm_[a]
  std::array<bool, 3> flip_{};  // ... running backwards
  std::array<std::size_t, 3> canonical_size_{};
  std::array<double, 3> canonical_spacing_{};
  double pixel_ = 1;            // grid pixel size in mm (square)
};

}  // namespace medsynth::pipeline
