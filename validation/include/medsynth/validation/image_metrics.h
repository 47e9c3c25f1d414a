#pragma once
// Paired image metrics between a synthetic volume and the real volume of the same condition,
// per slice (third index axis) and per volume, optionally inside a mask: MAE, MSE, PSNR, SSIM,
// MS-SSIM. docs/metrics.md defines each figure.
#include <cstddef>
#include <string>
#include <vector>

#include "medsynth/io/volume.h"

namespace medsynth::validation {

struct PairedMetrics {
  double mae = 0;
  double mse = 0;
  double psnr = 0;        // dB with data_range; +inf when the images are identical
  double ssim = 0;        // slice: SSIM; volume: pixel-weighted mean of the slices' SSIM maps
  double ms_ssim = 0;     // slice: MS-SSIM; volume: mean over slices with a figure
  std::size_t voxels = 0;  // voxels counted by MAE/MSE/PSNR (inside the mask)
  bool has_ssim = false;   // false when no pixel counts for SSIM (mask only at the border)
  bool has_ms_ssim = false;  // false when a coarser scale has no pixel inside the mask
};

struct SliceMetrics {
  std::size_t index = 0;  // k along the third index axis
  PairedMetrics metrics;
};

struct PairedOptions {
  // The L of PSNR and SSIM. <= 0: max - min of the real volume (inside the mask when one is
  // given). Reported either way.
  double data_range = 0;
  const io::Volume* mask = nullptr;  // on the real grid; non-zero voxels are inside
  unsigned threads = 0;              // 0: hardware concurrency
};

struct PairedResult {
  PairedMetrics volume;
  std::vector<SliceMetrics> slices;  // slices with at least one voxel inside the mask
  double data_range = 0;
  int ms_ssim_scales = 0;
  std::size_t mask_voxels = 0;  // 0 when there is no mask
};

// Throws medsynth::Error (kBadInput) when the grids differ (both named), the mask is empty or on
// another grid, the slices are smaller than 11x11, or the data range is 0 (constant real volume
// and no explicit range).
PairedResult paired_metrics(const io::Volume& real, const io::Volume& synthetic,
                            const PairedOptions& options = {});

// "181x217x181, spacing 1x1x1 mm, origin (-90, -126, -72) mm, RAS": how errors name a grid.
std::string describe_grid(const io::Geometry& g);

}  // namespace medsynth::validation
