#include "medsynth/validation/image_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "medsynth/error.h"
#include "medsynth/validation/ms_ssim.h"
#include "medsynth/validation/slice.h"
#include "medsynth/validation/ssim.h"
#include "parallel.h"

namespace medsynth::validation {

std::string describe_grid(const io::Geometry& g) {
  std::ostringstream os;
  os << g.size[0] << "x" << g.size[1] << "x" << g.size[2] << ", spacing " << g.spacing[0] << "x"
     << g.spacing[1] << "x" << g.spacing[2] << " mm, origin (" << g.origin[0] << ", " << g.origin[1] << ", "
     << g.origin[2] << ") mm, " << g.orientation_code();
  return os.str();
}

namespace {

double psnr_of(double mse, double data_range) {
  return mse > 0 ? 10.0 * std::log10(data_range * data_range / mse) : std::numeric_limits<double>::infinity();
}

// Sums that slices add up into the volume's figures.
struct SliceSums {
  double abs_sum = 0, sq_sum = 0, ssim_sum = 0;
  std::size_t voxels = 0, ssim_pixels = 0;
  bool has_ms_ssim = false;
};

}  // namespace

PairedResult paired_metrics(const io::Volume& real, const io::Volume& synthetic, const PairedOptions& options) {
  if (!real.geometry.same_grid(synthetic.geometry, 1e-3)) {
    throw Error("real and synthetic volumes are on different grids: real " + describe_grid(real.geometry) +
                    "; synthetic " + describe_grid(synthetic.geometry) + " (use --resample to resample the synthetic one)",
                ExitCode::kBadInput);
  }
  const io::Geometry& g = real.geometry;
  if (g.size[0] < kSsimWindow || g.size[1] < kSsimWindow) {
    throw Error("slices are " + std::to_string(g.size[0]) + "x" + std::to_string(g.size[1]) +
                    ": SSIM needs at least 11x11 pixels",
                ExitCode::kBadInput);
  }
  PairedResult res;
  const io::Volume* mask = options.mask;
  if (mask) {
    if (!mask->geometry.same_grid(g, 1e-3)) {
      throw Error("the mask is on another grid than the real volume: mask " + describe_grid(mask->geometry) +
                      "; real " + describe_grid(g),
                  ExitCode::kBadInput);
    }
    for (float v : mask->voxels) res.mask_voxels += v != 0.0f ? 1 : 0;
    if (res.mask_voxels == 0) throw Error("the mask is empty (no non-zero voxel)", ExitCode::kBadInput);
  }
  double range = options.data_range;
  if (range <= 0) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (std::size_t i = 0; i < real.voxels.size(); ++i) {
      if (mask && mask->voxels[i] == 0.0f) continue;
      const double v = real.voxels[i];
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
    range = hi - lo;
    if (!(range > 0)) {
      throw Error(std::string("the real volume is constant") + (mask ? " inside the mask" : "") +
                      " (every voxel " + std::to_string(lo) +
                      "), so its data range is 0 and PSNR/SSIM are undefined; give --data-range",
                  ExitCode::kBadInput);
    }
  }
  res.data_range = range;
  res.ms_ssim_scales = ms_ssim_scales(g.size[0], g.size[1]);
  const SsimOptions so{range, 0.01, 0.03};

  const std::size_t depth = g.size[2];
  std::vector<SliceMetrics> all(depth);
  std::vector<SliceSums> sums(depth);
  detail::parallel_for(depth, options.threads, [&](std::size_t k) {
    const Slice a = slice_of(real, k), b = slice_of(synthetic, k);
    SliceMask m;
    if (mask) m = mask_slice_of(*mask, k);
    SliceSums& s = sums[k];
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (mask && !m.inside[i]) continue;
      const double d = static_cast<double>(b.pixels[i]) - static_cast<double>(a.pixels[i]);
      s.abs_sum += std::fabs(d);
      s.sq_sum += d * d;
      ++s.voxels;
    }
    if (s.voxels == 0) return;
    PairedMetrics& pm = all[k].metrics;
    all[k].index = k;
    pm.voxels = s.voxels;
    pm.mae = s.abs_sum / static_cast<double>(s.voxels);
    pm.mse = s.sq_sum / static_cast<double>(s.voxels);
    pm.psnr = psnr_of(pm.mse, range);
    const SsimResult sr = ssim(a, b, so, mask ? &m : nullptr);
    if (sr.pixels) {
      pm.has_ssim = true;
      pm.ssim = sr.ssim;
      s.ssim_sum = sr.ssim * static_cast<double>(sr.pixels);
      s.ssim_pixels = sr.pixels;
      const MsSsimResult ms = ms_ssim(a, b, so, mask ? &m : nullptr);
      s.has_ms_ssim = ms.pixels > 0;
      pm.has_ms_ssim = s.has_ms_ssim;
      pm.ms_ssim = ms.ms_ssim;
    }
  });

  double abs_sum = 0, sq_sum = 0, ssim_sum = 0, ms_sum = 0;
  std::size_t voxels = 0, ssim_pixels = 0, ms_count = 0;
  for (std::size_t k = 0; k < depth; ++k) {
    const SliceSums& s = sums[k];
    if (s.voxels == 0) continue;
    abs_sum += s.abs_sum, sq_sum += s.sq_sum, voxels += s.voxels;
    ssim_sum += s.ssim_sum, ssim_pixels += s.ssim_pixels;
    if (s.has_ms_ssim) ms_sum += all[k].metrics.ms_ssim, ++ms_count;
    res.slices.push_back(all[k]);
  }
  PairedMetrics& v = res.volume;
  v.voxels = voxels;
  v.mae = abs_sum / static_cast<double>(voxels);
  v.mse = sq_sum / static_cast<double>(voxels);
  v.psnr = psnr_of(v.mse, range);
  v.has_ssim = ssim_pixels > 0;
  if (ssim_pixels) v.ssim = ssim_sum / static_cast<double>(ssim_pixels);
  v.has_ms_ssim = ms_count > 0;
  if (ms_count) v.ms_ssim = ms_sum / static_cast<double>(ms_count);
  return res;
}

}  // namespace medsynth::validation
