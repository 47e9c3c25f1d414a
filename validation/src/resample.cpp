#include "resample.h"

#include <cmath>

namespace medsynth::validation::detail {

io::Volume resample_linear(const io::Volume& src, const io::Geometry& target) {
  io::Volume out;
  out.geometry = target;
  out.metadata = src.metadata;
  out.stored_type = io::PixelType::kFloat32;
  out.voxels.assign(target.voxel_count(), 0.0f);
  const auto& s = src.geometry.size;
  for (std::size_t k = 0; k < target.size[2]; ++k)
    for (std::size_t j = 0; j < target.size[1]; ++j)
      for (std::size_t i = 0; i < target.size[0]; ++i) {
        const auto p = target.index_to_physical(static_cast<double>(i), static_cast<double>(j), static_cast<double>(k));
        const auto c = src.geometry.physical_to_index(p);
        // Outside the source's voxel centres (half a voxel of tolerance for round-off): 0.
        bool inside = true;
        for (int a = 0; a < 3; ++a)
          inside = inside && c[a] > -1e-6 && c[a] < static_cast<double>(s[a] - 1) + 1e-6;
        if (!inside) continue;
        std::size_t i0[3];
        double f[3];
        for (int a = 0; a < 3; ++a) {
          const double fl = std::floor(std::max(0.0, c[a]));
          i0[a] = std::min(static_cast<std::size_t>(fl), s[a] > 1 ? s[a] - 2 : 0);
          f[a] = s[a] > 1 ? std::min(1.0, std::max(0.0, c[a] - static_cast<double>(i0[a]))) : 0.0;
        }
        double v = 0;
        for (int dz = 0; dz < 2; ++dz)
          for (int dy = 0; dy < 2; ++dy)
            for (int dx = 0; dx < 2; ++dx) {
              const double w = (dx ? f[0] : 1 - f[0]) * (dy ? f[1] : 1 - f[1]) * (dz ? f[2] : 1 - f[2]);
              if (w == 0) continue;
              v += w * src.at(i0[0] + static_cast<std::size_t>(dx), i0[1] + static_cast<std::size_t>(dy),
                              i0[2] + static_cast<std::size_t>(dz));
            }
        out.at(i, j, k) = static_cast<float>(v);
      }
  return out;
}

template <typename T>
io::Image<T> resample_nearest(const io::Image<T>& src, const io::Geometry& target) {
  io::Image<T> out;
  out.geometry = target;
  out.metadata = src.metadata;
  out.stored_type = src.stored_type;
  out.voxels.assign(target.voxel_count(), T{});
  const auto& s = src.geometry.size;
  for (std::size_t k = 0; k < target.size[2]; ++k)
    for (std::size_t j = 0; j < target.size[1]; ++j)
      for (std::size_t i = 0; i < target.size[0]; ++i) {
        const auto c = src.geometry.physical_to_index(
            target.index_to_physical(static_cast<double>(i), static_cast<double>(j), static_cast<double>(k)));
        long n[3];
        bool inside = true;
        for (int a = 0; a < 3; ++a) {
          n[a] = std::lround(c[a]);
          inside = inside && n[a] >= 0 && n[a] < static_cast<long>(s[a]);
        }
        if (inside)
          out.at(i, j, k) = src.at(static_cast<std::size_t>(n[0]), static_cast<std::size_t>(n[1]), static_cast<std::size_t>(n[2]));
      }
  return out;
}

template io::Image<float> resample_nearest(const io::Image<float>&, const io::Geometry&);
template io::Image<std::int32_t> resample_nearest(const io::Image<std::int32_t>&, const io::Geometry&);

}  // namespace medsynth::validation::detail
