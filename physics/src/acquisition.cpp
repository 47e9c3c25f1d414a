#include "medsynth/physics/acquisition.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "medsynth/error.h"

namespace medsynth::physics {
namespace {

constexpr double kFwhmPerSigma = 2.354820045;  // 2 sqrt(2 ln 2)

// Convolves along one index axis with a normalised Gaussian (edges replicated).
void blur_axis(io::Volume& v, int axis, double sigma_vox) {
  const auto& n = v.geometry.size;
  const long radius = static_cast<long>(std::ceil(3 * sigma_vox));
  std::vector<double> k(static_cast<std::size_t>(2 * radius + 1));
  double sum = 0;
  for (long d = -radius; d <= radius; ++d) {
    sum += k[static_cast<std::size_t>(d + radius)] = std::exp(-0.5 * d * d / (sigma_vox * sigma_vox));
  }
  for (double& w : k) w /= sum;
  const std::size_t stride = axis == 0 ? 1 : axis == 1 ? n[0] : n[0] * n[1];
  const long len = static_cast<long>(n[static_cast<std::size_t>(axis)]);
  std::vector<float> line(static_cast<std::size_t>(len));
  for (std::size_t base = 0; base < v.voxels.size(); ++base) {
    // base runs over the first voxel of every line along `axis`.
    if ((base / stride) % static_cast<std::size_t>(len) != 0) continue;
    for (long i = 0; i < len; ++i) line[static_cast<std::size_t>(i)] = v.voxels[base + static_cast<std::size_t>(i) * stride];
    for (long i = 0; i < len; ++i) {
      double acc = 0;
      for (long d = -radius; d <= radius; ++d) {
        const long j = std::clamp(i + d, 0L, len - 1);
        acc += k[static_cast<std::size_t>(d + radius)] * line[static_cast<std::size_t>(j)];
      }
      v.voxels[base + static_cast<std::size_t>(i) * stride] = static_cast<float>(acc);
    }
  }
}

}  // namespace

void apply_bias_field(io::Volume& v, double strength, std::uint64_t seed) {
  if (!(strength >= 0 && strength < 1)) throw UsageError("bias field strength must be in [0, 1)");
  if (strength == 0) return;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  // Monomials u^a v^b w^c with 1 <= a + b + c <= 2.
  std::vector<std::array<int, 3>> powers;
  for (int a = 0; a <= 2; ++a)
    for (int b = 0; a + b <= 2; ++b)
      for (int c = 0; a + b + c <= 2; ++c)
        if (a + b + c > 0) powers.push_back({a, b, c});
  std::vector<double> coeff(powers.size());
  for (double& c : coeff) c = normal(rng);
  const auto& n = v.geometry.size;
  auto unit = [&](std::size_t i, int axis) {
    const std::size_t len = n[static_cast<std::size_t>(axis)];
    return len > 1 ? 2.0 * static_cast<double>(i) / static_cast<double>(len - 1) - 1.0 : 0.0;
  };
  std::vector<double> field(v.voxels.size());
  double peak = 0;
  for (std::size_t k = 0; k < n[2]; ++k)
    for (std::size_t j = 0; j < n[1]; ++j)
      for (std::size_t i = 0; i < n[0]; ++i) {
        const double x[3] = {unit(i, 0), unit(j, 1), unit(k, 2)};
        double p = 0;
        for (std::size_t t = 0; t < powers.size(); ++t) {
          p += coeff[t] * std::pow(x[0], powers[t][0]) * std::pow(x[1], powers[t][1]) * std::pow(x[2], powers[t][2]);
        }
        field[v.index(i, j, k)] = p;
        peak = std::max(peak, std::abs(p));
      }
  if (peak == 0) return;
  for (std::size_t i = 0; i < v.voxels.size(); ++i) {
    v.voxels[i] = static_cast<float>(v.voxels[i] * (1 + strength * field[i] / peak));
  }
}

void apply_resolution(io::Volume& v, const std::array<double, 3>& fwhm_mm) {
  for (int axis = 0; axis < 3; ++axis) {
    const double sp = v.geometry.spacing[static_cast<std::size_t>(axis)], f = fwhm_mm[static_cast<std::size_t>(axis)];
    if (!(f >= 0)) throw UsageError("resolution (FWHM) must be >= 0 mm");
    if (f <= sp || v.geometry.size[static_cast<std::size_t>(axis)] < 2) continue;
    blur_axis(v, axis, std::sqrt(f * f - sp * sp) / kFwhmPerSigma / sp);
  }
}

io::Volume resample_to_spacing(const io::Volume& v, const std::array<double, 3>& spacing) {
  const io::Geometry& g = v.geometry;
  io::Volume out;
  out.metadata = v.metadata;
  out.stored_type = v.stored_type;
  out.geometry = g;
  std::array<double, 3> step{}, first{};
  for (std::size_t a = 0; a < 3; ++a) {
    if (!(spacing[a] > 0)) throw UsageError("spacing must be > 0 mm");
    const double extent = static_cast<double>(g.size[a]) * g.spacing[a];
    out.geometry.size[a] = std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(extent / spacing[a])));
    out.geometry.spacing[a] = spacing[a];
    step[a] = spacing[a] / g.spacing[a];  // old index units per new voxel
    // Centred on the same field of view.
    first[a] = (static_cast<double>(g.size[a]) - 1) / 2 - (static_cast<double>(out.geometry.size[a]) - 1) / 2 * step[a];
  }
  out.geometry.origin = g.index_to_physical(first[0], first[1], first[2]);
  out.voxels.resize(out.geometry.voxel_count());
  auto at = [&](long i, long j, long k) {
    i = std::clamp(i, 0L, static_cast<long>(g.size[0]) - 1);
    j = std::clamp(j, 0L, static_cast<long>(g.size[1]) - 1);
    k = std::clamp(k, 0L, static_cast<long>(g.size[2]) - 1);
    return static_cast<double>(v.at(static_cast<std::size_t>(i), static_cast<std::size_t>(j), static_cast<std::size_t>(k)));
  };
  const auto& m = out.geometry.size;
  for (std::size_t k = 0; k < m[2]; ++k)
    for (std::size_t j = 0; j < m[1]; ++j)
      for (std::size_t i = 0; i < m[0]; ++i) {
        const double x = first[0] + static_cast<double>(i) * step[0], y = first[1] + static_cast<double>(j) * step[1],
                     z = first[2] + static_cast<double>(k) * step[2];
        const long x0 = static_cast<long>(std::floor(x)), y0 = static_cast<long>(std::floor(y)),
                   z0 = static_cast<long>(std::floor(z));
        const double fx = x - static_cast<double>(x0), fy = y - static_cast<double>(y0), fz = z - static_cast<double>(z0);
        double s = 0;
        for (int c = 0; c < 8; ++c) {
          const int dx = c & 1, dy = (c >> 1) & 1, dz = (c >> 2) & 1;
          s += (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy) * (dz ? fz : 1 - fz) * at(x0 + dx, y0 + dy, z0 + dz);
        }
        out.at(i, j, k) = static_cast<float>(s);
      }
  return out;
}

void add_rician_noise(io::Volume& v, double sigma, std::uint64_t seed) {
  if (!(sigma >= 0)) throw UsageError("noise sigma must be >= 0");
  if (sigma == 0) return;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, sigma);
  for (float& x : v.voxels) {
    const double re = x + normal(rng), im = normal(rng);
    x = static_cast<float>(std::sqrt(re * re + im * im));
  }
}

double masked_mean(const io::Volume& v, const std::vector<bool>& mask) {
  double sum = 0;
  std::size_t n = 0;
  for (std::size_t i = 0; i < v.voxels.size(); ++i) {
    if (mask[i]) sum += v.voxels[i], ++n;
  }
  return n ? sum / static_cast<double>(n) : 0.0;
}

}  // namespace medsynth::physics
