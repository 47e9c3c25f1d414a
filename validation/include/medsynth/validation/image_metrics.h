#pragma once
// Paired image metrics between a synthetic and a real volume on the same grid.
#include <string>

#include "medsynth/io/volume.h"

namespace medsynth::validation {

struct PairedMetrics {
  double mae = 0;
  double mse = 0;
  double psnr = 0;        // dB, with data_range below; +inf when the images are identical
  double data_range = 0;  // the range PSNR used (explicit, reported)
  std::size_t voxels = 0;
};

// data_range <= 0 means "max - min of the real volume". Throws medsynth::Error on grid mismatch.
PairedMetrics paired_metrics(const io::Volume& real, const io::Volume& synthetic, double data_range = 0);

}  // namespace medsynth::validation
