#include "medsynth/validation/ssim.h"

#include <array>
#include <cmath>
#include <string>

#include "medsynth/error.h"

namespace medsynth::validation {
namespace {

// scipy.ndimage's 1-D Gaussian for sigma 1.5, truncate 3.5 (radius int(3.5 * 1.5 + 0.5) = 5),
// normalised to sum 1: the weights skimage's SSIM filters with.
std::array<double, kSsimWindow> gaussian_taps() {
  std::array<double, kSsimWindow> w{};
  const double sigma = 1.5;
  double sum = 0;
  for (std::size_t i = 0; i < kSsimWindow; ++i) {
    const double x = static_cast<double>(i) - static_cast<double>(kSsimRadius);
    w[i] = std::exp(-0.5 * x * x / (sigma * sigma));
    sum += w[i];
  }
  for (auto& v : w) v /= sum;
  return w;
}

}  // namespace

SsimResult ssim(const Slice& a, const Slice& b, const SsimOptions& options, const SliceMask* mask) {
  if (a.width != b.width || a.height != b.height) {
    throw Error("SSIM: slices differ in size (" + std::to_string(a.width) + "x" + std::to_string(a.height) +
                    " vs " + std::to_string(b.width) + "x" + std::to_string(b.height) + ")",
                ExitCode::kBadInput);
  }
  if (a.width < kSsimWindow || a.height < kSsimWindow) {
    throw Error("SSIM: a " + std::to_string(a.width) + "x" + std::to_string(a.height) +
                    " slice is smaller than the 11x11 Gaussian window",
                ExitCode::kBadInput);
  }
  if (!(options.data_range > 0)) throw Error("SSIM: the data range must be > 0", ExitCode::kBadInput);
  static const auto taps = gaussian_taps();
  const std::size_t w = a.width, h = a.height, r = kSsimRadius;
  // Only the map inside the cropped border is averaged, and there the 11-tap window never leaves
  // the image: filtering just that region makes padding rules irrelevant.
  const std::size_t ow = w - 2 * r, oh = h - 2 * r;
  // Horizontal pass over every row, for the ow output columns: x, y, xx, yy, xy.
  std::vector<double> hx(ow * h), hy(ow * h), hxx(ow * h), hyy(ow * h), hxy(ow * h);
  for (std::size_t y = 0; y < h; ++y) {
    const float* pa = a.pixels.data() + y * w;
    const float* pb = b.pixels.data() + y * w;
    for (std::size_t x = 0; x < ow; ++x) {
      double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
      for (std::size_t t = 0; t < kSsimWindow; ++t) {
        const double va = pa[x + t], vb = pb[x + t], g = taps[t];
        sx += g * va;
        sy += g * vb;
        sxx += g * va * va;
        syy += g * vb * vb;
        sxy += g * va * vb;
      }
      const std::size_t o = x + ow * y;
      hx[o] = sx, hy[o] = sy, hxx[o] = sxx, hyy[o] = syy, hxy[o] = sxy;
    }
  }
  const double c1 = (options.k1 * options.data_range) * (options.k1 * options.data_range);
  const double c2 = (options.k2 * options.data_range) * (options.k2 * options.data_range);
  double ssim_sum = 0, cs_sum = 0;
  std::size_t count = 0;
  std::vector<double> ux(ow), uy(ow), uxx(ow), uyy(ow), uxy(ow);
  for (std::size_t y = 0; y < oh; ++y) {
    std::fill(ux.begin(), ux.end(), 0.0);
    std::fill(uy.begin(), uy.end(), 0.0);
    std::fill(uxx.begin(), uxx.end(), 0.0);
    std::fill(uyy.begin(), uyy.end(), 0.0);
    std::fill(uxy.begin(), uxy.end(), 0.0);
    // Vertical pass row by row so the inner loop runs along x (contiguous, vectorisable).
    for (std::size_t t = 0; t < kSsimWindow; ++t) {
      const double g = taps[t];
      const std::size_t row = ow * (y + t);
      for (std::size_t x = 0; x < ow; ++x) {
        ux[x] += g * hx[row + x];
        uy[x] += g * hy[row + x];
        uxx[x] += g * hxx[row + x];
        uyy[x] += g * hyy[row + x];
        uxy[x] += g * hxy[row + x];
      }
    }
    const std::uint8_t* m = mask ? mask->inside.data() + (y + r) * w + r : nullptr;
    for (std::size_t x = 0; x < ow; ++x) {
      if (m && !m[x]) continue;
      const double vx = uxx[x] - ux[x] * ux[x];
      const double vy = uyy[x] - uy[x] * uy[x];
      const double vxy = uxy[x] - ux[x] * uy[x];
      const double cs = (2 * vxy + c2) / (vx + vy + c2);
      const double l = (2 * ux[x] * uy[x] + c1) / (ux[x] * ux[x] + uy[x] * uy[x] + c1);
      ssim_sum += l * cs;
      cs_sum += cs;
      ++count;
    }
  }
  SsimResult res;
  res.pixels = count;
  if (count) {
    res.ssim = ssim_sum / static_cast<double>(count);
    res.contrast_structure = cs_sum / static_cast<double>(count);
  }
  return res;
}

}  // namespace medsynth::validation
