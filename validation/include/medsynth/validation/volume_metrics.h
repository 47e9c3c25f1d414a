#pragma once
// Figures that look at a volume as a volume. medsynth's models sample each axial slice on its
// own and upsample it from data.grid, so a synthetic volume can be smooth within a slice and
// rough across slices, or blurred in-plane, while every 2-D figure looks fine:
//  - through-plane coherence: mean |I(z+1) - I(z)| over mean |I(x+1) - I(x)| inside a region;
//  - in-plane band power: power of the axial slices' 2-D spectrum in a radial frequency band;
//  - permute_axes(): a volume re-cut along another axis, so the paired SSIM/PSNR code measures
//    sagittal and coronal slices.
// Axes are canonical: z is the slice axis the models sample along. docs/metrics.md defines each.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "medsynth/io/volume.h"

namespace medsynth::validation {

// io::Geometry::canonical_axes(), the choice pipeline's SliceGrid makes too: [2] is the axial
// slice axis z, [0] the in-plane axis x nearest L.
std::array<int, 3> canonical_axes(const io::Geometry& g);

// The voxels the volume figures count (1 inside): the mask's non-zero voxels when a mask is
// given (on the real grid), otherwise the real volume's foreground, voxels above its minimum.
std::vector<std::uint8_t> evaluation_region(const io::Volume& real, const io::Volume* mask);

struct ThroughPlaneCoherence {
  double through_plane = 0;  // mean |I(z+1) - I(z)| over pairs with both voxels in the region
  double in_plane = 0;       // mean |I(x+1) - I(x)| over such pairs
  double coherence = 0;      // through_plane / in_plane; NaN when in_plane is 0 or no pair
  std::size_t through_pairs = 0, in_pairs = 0;
};

// z and x from canonical_axes(v.geometry); region has one entry per voxel.
ThroughPlaneCoherence through_plane_coherence(const io::Volume& v, const std::vector<std::uint8_t>& region,
                                              unsigned threads = 0);

struct BandPowerOptions {
  double low = 0.2, high = 0.5;  // radial frequency band, cycles/voxel, both ends included
  double taper = 8;              // voxels over which the weight rises from the region's edge to 1
  unsigned threads = 0;
};

struct BandPower {
  double band = 0;         // summed over slices: power |F|^2 at radial frequencies in the band
  double total = 0;        // summed over slices: power at every frequency (DC is 0)
  std::size_t slices = 0;  // axial slices with at least one region voxel
  std::array<std::size_t, 2> padded{0, 0};  // FFT size along x and y (next powers of two)
};

// Per axial slice with a region voxel: weight w = 1/2 - 1/2 cos(pi min(d, taper) / taper), d the
// distance to the nearest pixel outside the region (beyond the slice's edge counts as outside);
// s = w (I - m) with m the w-weighted mean, 0 outside and in the zero padding to powers of two;
// 2-D FFT; power summed over the band and over all frequencies, then over slices.
BandPower in_plane_band_power(const io::Volume& v, const std::vector<std::uint8_t>& region,
                              const BandPowerOptions& options = {});

// The volume with its index axes reordered: new index axis a is old axis order[a] (size,
// spacing and direction columns follow, the origin stays). order must be a permutation.
io::Volume permute_axes(const io::Volume& v, const std::array<int, 3>& order);

}  // namespace medsynth::validation
