#pragma once
// The map between a volume's voxels and the training slices: reorientation to one canonical
// orientation (index axes pointing L, P, S: axial slices along the third axis) and in-plane
// resampling to a canvas of width x height square pixels, centred, padding outside. The canvas is
// grid x grid over the volume's larger extent (data.grid = N), or the volume's own in-plane grid
// (data.grid = native: the pixel is the finer in-plane spacing, and a volume with square pixels is
// copied voxel for voxel, no interpolation). It runs both ways, so a synthetic stack goes back
// onto the grid of the volume it was made for. Slices are stored row-major: [z][y][x].
#include <array>
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "medsynth/io/volume.h"

namespace medsynth::pipeline {

class SliceGrid {
 public:
  // grid > 0: grid x grid over the larger extent; grid == 0: native.
  SliceGrid(const io::Geometry& geometry, int grid);
  // A canvas of `pixel` mm (0: native spacing) and width x height pixels (0: what the volume needs).
  static SliceGrid with_pixel(const io::Geometry& geometry, double pixel, int width, int height);

  int width() const { return width_; }
  int height() const { return height_; }
  double pixel() const { return pixel_; }
  std::size_t pixels() const { return static_cast<std::size_t>(width_) * static_cast<std::size_t>(height_); }
  std::size_t slices() const { return canonical_size_[2]; }
  // The canvas the volume needs at `pixel` mm: (width, height).
  std::pair<int, int> fit(double pixel) const;
  // In-plane spacing of the volume (canonical x, y) in mm.
  double native_pixel() const { return std::min(canonical_spacing_[0], canonical_spacing_[1]); }
  // Normalised position of slice k along the canonical axis, 0 (inferior) .. 1 (superior).
  float position(std::size_t k) const;

  // Z x height x width slices (canonical order), bilinear; outside the volume: `fill`.
  std::vector<float> resample(const io::Volume& v, float fill) const;
  // The same with nearest-neighbour, for label maps.
  std::vector<std::int32_t> resample_labels(const io::LabelVolume& v) const;
  // A Z x height x width stack back onto the original grid (bilinear in-plane).
  io::Volume restore(const std::vector<float>& stack, const io::Geometry& original) const;

 private:
  // Original voxel index of canonical index (i, j, k).
  std::size_t original_index(std::size_t i, std::size_t j, std::size_t k) const;
  double canonical_coordinate(int axis, double u) const;  // grid coordinate → canonical index
  double grid_coordinate(int axis, double i) const;       // canonical index → grid coordinate

  SliceGrid(const io::Geometry& geometry);  // axes only; the canvas is set by the callers
  io::Geometry original_;
  int width_ = 0, height_ = 0;
  std::array<int, 3> perm_{};   // canonical axis a is original index axis perm_[a]
  std::array<bool, 3> flip_{};  // ... running backwards
  std::array<std::size_t, 3> canonical_size_{};
  std::array<double, 3> canonical_spacing_{};
  double pixel_ = 1;                        // grid pixel size in mm (square)
  std::array<double, 2> centre_{-1, -1};  // canvas position of the volume's centre (< 0: the canvas's)
  double centre(int axis) const;
};

}  // namespace medsynth::pipeline
