#pragma once
// Resampling into another grid through physical coordinates (used by evaluate --resample).
#include "medsynth/io/volume.h"

namespace medsynth::validation::detail {

// Trilinear interpolation of `src` at the centre of every voxel of `target`; 0 outside src.
io::Volume resample_linear(const io::Volume& src, const io::Geometry& target);
// Nearest neighbour, for masks and label maps (no new label values); 0 outside src.
template <typename T>
io::Image<T> resample_nearest(const io::Image<T>& src, const io::Geometry& target);

}  // namespace medsynth::validation::detail
