#pragma once
// SSIM (Wang, Bovik, Sheikh & Simoncelli 2004) with the Gaussian window that scikit-image uses
// for structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False):
// 11 taps (truncate 3.5), K1 0.01, K2 0.03, population (co)variances. The SSIM map is averaged
// over the pixels at least 5 (the window radius) from the border, as skimage crops them, so
// border handling never enters the figure. docs/metrics.md has the definition.
#include <cstddef>

#include "medsynth/validation/slice.h"

namespace medsynth::validation {

inline constexpr std::size_t kSsimWindow = 11;  // taps of the Gaussian window
inline constexpr std::size_t kSsimRadius = kSsimWindow / 2;

struct SsimOptions {
  double data_range = 0;  // L in C1 = (K1 L)^2, C2 = (K2 L)^2; must be > 0
  double k1 = 0.01;
  double k2 = 0.03;
};

struct SsimResult {
  double ssim = 0;          // mean of the SSIM map over the counted pixels
  double contrast_structure = 0;  // mean of the cs map (2 vxy + C2) / (vx + vy + C2): MS-SSIM needs it
  std::size_t pixels = 0;   // counted pixels (cropped border, inside the mask); 0: no figure
};

// SSIM between two slices of one size (>= 11x11, else medsynth::Error kBadInput). With a mask,
// only pixels inside it (and away from the border) count; pixels == 0 when none do.
SsimResult ssim(const Slice& a, const Slice& b, const SsimOptions& options,
                const SliceMask* mask = nullptr);

}  // namespace medsynth::validation
