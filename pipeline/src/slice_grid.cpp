#include "medsynth/pipeline/slice_grid.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "medsynth/error.h"

namespace medsynth::pipeline {

SliceGrid::SliceGrid(const io::Geometry& g, int grid) : SliceGrid(g) {
  if (grid == 0) {
    pixel_ = native_pixel();
    std::tie(width_, height_) = fit(pixel_);
    return;
  }
  if (grid < 8) throw Error("data.grid must be native or at least 8", ExitCode::kUsage);
  const double ex = static_cast<double>(canonical_size_[0]) * canonical_spacing_[0];
  const double ey = static_cast<double>(canonical_size_[1]) * canonical_spacing_[1];
  pixel_ = std::max(ex, ey) / grid;
  width_ = height_ = grid;
}

SliceGrid SliceGrid::with_pixel(const io::Geometry& g, double pixel, int width, int height) {
  SliceGrid sg(g);
  sg.pixel_ = pixel > 0 ? pixel : sg.native_pixel();
  const auto [w, h] = sg.fit(sg.pixel_);
  sg.width_ = width > 0 ? width : w;
  sg.height_ = height > 0 ? height : h;
  // A volume smaller than the canvas sits a whole number of pixels from its edge, so at its own
  // pixel size it is still copied voxel for voxel (an odd margin would shift it half a pixel).
  sg.centre_ = {std::floor((sg.width_ - w) / 2.0) + w / 2.0, std::floor((sg.height_ - h) / 2.0) + h / 2.0};
  return sg;
}

std::pair<int, int> SliceGrid::fit(double pixel) const {
  // Rounded, not ceiled: 181 voxels of 1 mm at 1 mm are 181 pixels, whatever the rounding error.
  const double ex = static_cast<double>(canonical_size_[0]) * canonical_spacing_[0];
  const double ey = static_cast<double>(canonical_size_[1]) * canonical_spacing_[1];
  return {std::max(1, static_cast<int>(std::lround(ex / pixel))), std::max(1, static_cast<int>(std::lround(ey / pixel)))};
}

SliceGrid::SliceGrid(const io::Geometry& g) : original_(g) {
  // Canonical axis a (physical x=L, y=P, z=S) is the original index axis most aligned with it.
  const auto axes = g.canonical_axes();
  for (int a = 0; a < 3; ++a) {
    const int best = axes[static_cast<std::size_t>(a)];
    perm_[static_cast<std::size_t>(a)] = best;
    flip_[static_cast<std::size_t>(a)] = g.dir(a, best) < 0;
    canonical_size_[static_cast<std::size_t>(a)] = g.size[static_cast<std::size_t>(best)];
    canonical_spacing_[static_cast<std::size_t>(a)] = g.spacing[static_cast<std::size_t>(best)];
  }
}

float SliceGrid::position(std::size_t k) const {
  const auto n = canonical_size_[2];
  return n > 1 ? static_cast<float>(k) / static_cast<float>(n - 1) : 0.5f;
}

std::size_t SliceGrid::original_index(std::size_t i, std::size_t j, std::size_t k) const {
  const std::size_t c[3] = {i, j, k};
  std::size_t o[3] = {0, 0, 0};
  for (int a = 0; a < 3; ++a) {
    const auto sa = static_cast<std::size_t>(a);
    const std::size_t v = flip_[sa] ? canonical_size_[sa] - 1 - c[a] : c[a];
    o[perm_[sa]] = v;
  }
  return o[0] + original_.size[0] * (o[1] + original_.size[1] * o[2]);
}

double SliceGrid::canonical_coordinate(int axis, double u) const {
  const auto a = static_cast<std::size_t>(axis);
  return (static_cast<double>(canonical_size_[a]) - 1) / 2 + ((u + 0.5) - centre(axis)) * pixel_ / canonical_spacing_[a];
}

double SliceGrid::centre(int axis) const {
  const double c = centre_[static_cast<std::size_t>(axis)];
  return c >= 0 ? c : (axis == 0 ? width_ : height_) / 2.0;
}

double SliceGrid::grid_coordinate(int axis, double i) const {
  const auto a = static_cast<std::size_t>(axis);
  return (i - (static_cast<double>(canonical_size_[a]) - 1) / 2) * canonical_spacing_[a] / pixel_ + centre(axis) - 0.5;
}

std::vector<float> SliceGrid::resample(const io::Volume& v, float fill) const {
  const std::size_t GW = static_cast<std::size_t>(width_), GH = static_cast<std::size_t>(height_), Z = canonical_size_[2];
  const long nx = static_cast<long>(canonical_size_[0]), ny = static_cast<long>(canonical_size_[1]);
  std::vector<float> out(Z * GW * GH, fill);
  std::vector<double> xs(GW), ys(GH);
  for (std::size_t u = 0; u < GW; ++u) xs[u] = canonical_coordinate(0, static_cast<double>(u));
  for (std::size_t w = 0; w < GH; ++w) ys[w] = canonical_coordinate(1, static_cast<double>(w));
  for (std::size_t k = 0; k < Z; ++k) {
    auto at = [&](long i, long j) -> float {
      if (i < 0 || j < 0 || i >= nx || j >= ny) return fill;
      return v.voxels[original_index(static_cast<std::size_t>(i), static_cast<std::size_t>(j), k)];
    };
    for (std::size_t w = 0; w < GH; ++w) {
      const double y = ys[w];
      if (y < -1 || y > static_cast<double>(ny)) continue;
      const long j0 = static_cast<long>(std::floor(y));
      const double fy = y - static_cast<double>(j0);
      for (std::size_t u = 0; u < GW; ++u) {
        const double x = xs[u];
        if (x < -1 || x > static_cast<double>(nx)) continue;
        const long i0 = static_cast<long>(std::floor(x));
        const double fx = x - static_cast<double>(i0);
        const double val = (1 - fy) * ((1 - fx) * at(i0, j0) + fx * at(i0 + 1, j0)) +
                           fy * ((1 - fx) * at(i0, j0 + 1) + fx * at(i0 + 1, j0 + 1));
        out[(k * GH + w) * GW + u] = static_cast<float>(val);
      }
    }
  }
  return out;
}

std::vector<std::int32_t> SliceGrid::resample_labels(const io::LabelVolume& v) const {
  const std::size_t GW = static_cast<std::size_t>(width_), GH = static_cast<std::size_t>(height_), Z = canonical_size_[2];
  const long nx = static_cast<long>(canonical_size_[0]), ny = static_cast<long>(canonical_size_[1]);
  std::vector<std::int32_t> out(Z * GW * GH, 0);
  for (std::size_t k = 0; k < Z; ++k) {
    for (std::size_t w = 0; w < GH; ++w) {
      const long j = std::lround(canonical_coordinate(1, static_cast<double>(w)));
      if (j < 0 || j >= ny) continue;
      for (std::size_t u = 0; u < GW; ++u) {
        const long i = std::lround(canonical_coordinate(0, static_cast<double>(u)));
        if (i < 0 || i >= nx) continue;
        out[(k * GH + w) * GW + u] = v.voxels[original_index(static_cast<std::size_t>(i), static_cast<std::size_t>(j), k)];
      }
    }
  }
  return out;
}

io::Volume SliceGrid::restore(const std::vector<float>& stack, const io::Geometry& original) const {
  const std::size_t GW = static_cast<std::size_t>(width_), GH = static_cast<std::size_t>(height_), Z = canonical_size_[2];
  if (stack.size() != Z * GW * GH) throw Error("restore: stack size does not match the slice grid", ExitCode::kRuntime);
  io::Volume v;
  v.geometry = original;
  v.voxels.assign(original.voxel_count(), 0.0f);
  v.stored_type = io::PixelType::kFloat32;
  const long gw = static_cast<long>(GW), gh = static_cast<long>(GH);
  for (std::size_t k = 0; k < Z; ++k) {
    const float* s = stack.data() + k * GW * GH;
    auto at = [&](long u, long w) {
      u = std::clamp(u, 0L, gw - 1);
      w = std::clamp(w, 0L, gh - 1);
      return s[static_cast<std::size_t>(w) * GW + static_cast<std::size_t>(u)];
    };
    for (std::size_t j = 0; j < canonical_size_[1]; ++j) {
      const double y = grid_coordinate(1, static_cast<double>(j));
      const long w0 = static_cast<long>(std::floor(y));
      const double fy = y - static_cast<double>(w0);
      for (std::size_t i = 0; i < canonical_size_[0]; ++i) {
        const double x = grid_coordinate(0, static_cast<double>(i));
        const long u0 = static_cast<long>(std::floor(x));
        const double fx = x - static_cast<double>(u0);
        const double val = (1 - fy) * ((1 - fx) * at(u0, w0) + fx * at(u0 + 1, w0)) +
                           fy * ((1 - fx) * at(u0, w0 + 1) + fx * at(u0 + 1, w0 + 1));
        v.voxels[original_index(i, j, k)] = static_cast<float>(val);
      }
    }
  }
  return v;
}

}  // namespace medsynth::pipeline
