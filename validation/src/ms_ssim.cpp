#include "medsynth/validation/ms_ssim.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "medsynth/error.h"

namespace medsynth::validation {

int ms_ssim_scales(std::size_t width, std::size_t height) {
  int scales = 0;
  while (scales < static_cast<int>(kMsSsimWeights.size()) && width >= kSsimWindow && height >= kSsimWindow) {
    ++scales;
    width /= 2;
    height /= 2;
  }
  return scales;
}

Slice downsample2(const Slice& s) {
  Slice d;
  d.width = s.width / 2;
  d.height = s.height / 2;
  d.pixels.resize(d.size());
  for (std::size_t y = 0; y < d.height; ++y) {
    const float* r0 = s.pixels.data() + 2 * y * s.width;
    const float* r1 = r0 + s.width;
    for (std::size_t x = 0; x < d.width; ++x) {
      // Summed in double so the average of four floats is the one numpy computes.
      const double sum = static_cast<double>(r0[2 * x]) + r0[2 * x + 1] + r1[2 * x] + r1[2 * x + 1];
      d.pixels[x + d.width * y] = static_cast<float>(0.25 * sum);
    }
  }
  return d;
}

namespace {

// A pixel of the coarser mask is inside when at least half of its 2x2 block is.
SliceMask downsample_mask(const SliceMask& m) {
  SliceMask d;
  d.width = m.width / 2;
  d.height = m.height / 2;
  d.inside.resize(d.width * d.height);
  for (std::size_t y = 0; y < d.height; ++y) {
    for (std::size_t x = 0; x < d.width; ++x) {
      const std::size_t i = 2 * x + m.width * 2 * y;
      const int n = m.inside[i] + m.inside[i + 1] + m.inside[i + m.width] + m.inside[i + m.width + 1];
      d.inside[x + d.width * y] = n >= 2 ? 1 : 0;
    }
  }
  return d;
}

}  // namespace

MsSsimResult ms_ssim(const Slice& a, const Slice& b, const SsimOptions& options, const SliceMask* mask) {
  const int scales = ms_ssim_scales(a.width, a.height);
  if (scales == 0) {
    throw Error("MS-SSIM: a " + std::to_string(a.width) + "x" + std::to_string(a.height) +
                    " slice is smaller than the 11x11 Gaussian window",
                ExitCode::kBadInput);
  }
  double weight_sum = 0;
  for (int s = 0; s < scales; ++s) weight_sum += kMsSsimWeights[static_cast<std::size_t>(s)];
  MsSsimResult res;
  res.scales = scales;
  Slice x = a, y = b;
  SliceMask m;
  if (mask) m = *mask;
  double log_sum = 0;
  bool zero = false;
  for (int s = 0; s < scales; ++s) {
    if (s > 0) {
      x = downsample2(x);
      y = downsample2(y);
      if (mask) m = downsample_mask(m);
    }
    const SsimResult r = ssim(x, y, options, mask ? &m : nullptr);
    if (r.pixels == 0) return MsSsimResult{0, scales, 0};
    if (s == 0) res.pixels = r.pixels;
    const double w = kMsSsimWeights[static_cast<std::size_t>(s)] / weight_sum;
    const double v = std::max(0.0, s == scales - 1 ? r.ssim : r.contrast_structure);
    if (v == 0) zero = true;
    else log_sum += w * std::log(v);
  }
  res.ms_ssim = zero ? 0.0 : std::exp(log_sum);
  return res;
}

}  // namespace medsynth::validation
