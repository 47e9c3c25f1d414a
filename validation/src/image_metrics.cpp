#include "medsynth/validation/image_metrics.h"

#include <cmath>
#include <limits>

#include "medsynth/error.h"

namespace medsynth::validation {

PairedMetrics paired_metrics(const io::Volume& real, const io::Volume& synthetic, double data_range) {
  if (!real.geometry.same_grid(synthetic.geometry, 1e-3)) {
    throw Error("paired metrics need both volumes on one grid (size, spacing, origin, direction)",
                ExitCode::kBadInput);
  }
  PairedMetrics m;
  if (data_range <= 0) {
    auto [lo, hi] = io::intensity_range(real);
    data_range = static_cast<double>(hi) - static_cast<double>(lo);
  }
  m.data_range = data_range;
  double abs_sum = 0, sq_sum = 0;
  for (std::size_t i = 0; i < real.voxels.size(); ++i) {
    const double d = static_cast<double>(synthetic.voxels[i]) - static_cast<double>(real.voxels[i]);
    abs_sum += std::fabs(d);
    sq_sum += d * d;
  }
  m.voxels = real.voxels.size();
  const double n = m.voxels ? static_cast<double>(m.voxels) : 1.0;
  m.mae = abs_sum / n;
  m.mse = sq_sum / n;
  m.psnr = m.mse > 0 ? 10.0 * std::log10(data_range * data_range / m.mse)
                     : std::numeric_limits<double>::infinity();
  return m;
}

}  // namespace medsynth::validation
