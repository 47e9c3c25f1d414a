#pragma once
// Multi-scale SSIM (Wang, Simoncelli & Bovik 2003): 5 scales with weights
// 0.0448 0.2856 0.3001 0.2363 0.1333, halving by 2x2 averaging between scales (an odd last row
// or column is dropped). MS-SSIM = prod_{j<M} cs_j^{w_j} * ssim_M^{w_M}, where cs_j is the mean
// contrast-structure term at scale j and ssim_M the mean SSIM at the coarsest scale; negative
// means are clamped to 0 before the power (as pytorch-msssim does), so the figure is in [0, 1].
//
// Small slices: a scale is used only when both sides are still >= 11 (the window). When fewer
// than 5 scales fit, the first M weights are used and renormalised to sum to 1, and `scales`
// says how many were used (a 64x64 slice gets 3: 64, 32, 16). A slice under 11x11 is refused.
#include <array>
#include <cstddef>

#include "medsynth/validation/slice.h"
#include "medsynth/validation/ssim.h"

namespace medsynth::validation {

inline constexpr std::array<double, 5> kMsSsimWeights = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};

struct MsSsimResult {
  double ms_ssim = 0;
  int scales = 0;  // scales used (5 unless the slice is small)
  std::size_t pixels = 0;  // counted pixels at the finest scale; 0: no figure (empty mask)
};

// How many scales fit a width x height slice (0 when even the first does not).
int ms_ssim_scales(std::size_t width, std::size_t height);

// With a mask, each scale counts the pixels whose 2x2-averaged mask is >= 0.5 (a pixel that is
// mostly inside); a scale with no such pixel ends the figure (pixels == 0).
MsSsimResult ms_ssim(const Slice& a, const Slice& b, const SsimOptions& options,
                     const SliceMask* mask = nullptr);

// 2x2 average downsampling (odd last row/column dropped); exposed for the tests.
Slice downsample2(const Slice& s);

}  // namespace medsynth::validation
