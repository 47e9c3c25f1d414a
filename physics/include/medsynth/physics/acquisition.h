#pragma once
// The acquisition applied to a rendered image: receive bias field, resolution (in-plane PSF and
// slab profile), resampling to the acquired grid, and Rician noise. Applied in that order by
// `medsynth simulate`; each is deterministic for a seed.
#include <array>
#include <cstdint>
#include <vector>

#include "medsynth/io/volume.h"

namespace medsynth::physics {

// Multiplies by a smooth field 1 + strength * P, P a random polynomial of degree <= 2 in the
// normalised index coordinates, scaled so max |P| over the grid is 1 (so the field spans
// 1 - strength .. 1 + strength). strength in [0, 1).
void apply_bias_field(io::Volume& v, double strength, std::uint64_t seed);

// Gaussian point spread along each index axis with FWHM fwhm_mm[axis]: the part beyond the
// voxel's own width, sigma = sqrt(fwhm^2 - spacing^2) / 2.3548 (nothing where fwhm <= spacing).
// An in-plane PSF is fwhm of the acquired pixel; the slab profile is fwhm of the slice thickness.
void apply_resolution(io::Volume& v, const std::array<double, 3>& fwhm_mm);

// Trilinear resampling onto a grid of `spacing` covering the same field of view (same
// direction; voxel edges of the first and last voxels kept where the spacing divides the extent).
io::Volume resample_to_spacing(const io::Volume& v, const std::array<double, 3>& spacing);

// Magnitude of (S + n1) + i n2, n1, n2 ~ N(0, sigma^2): Rician noise as in a magnitude image.
void add_rician_noise(io::Volume& v, double sigma, std::uint64_t seed);

// Mean of v over the voxels where mask is true (0 when none).
double masked_mean(const io::Volume& v, const std::vector<bool>& mask);

}  // namespace medsynth::physics
