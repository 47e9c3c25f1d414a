#include "medsynth/validation/volume_metrics.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <string>

#include "fft.h"
#include "medsynth/error.h"
#include "parallel.h"

namespace medsynth::validation {

namespace {

std::array<std::size_t, 3> strides_of(const io::Geometry& g) { return {1, g.size[0], g.size[0] * g.size[1]}; }

void require_region(const io::Volume& v, const std::vector<std::uint8_t>& region) {
  if (region.size() != v.voxels.size()) {
    throw Error("volume figures: the region has " + std::to_string(region.size()) + " voxels, the volume " +
                    std::to_string(v.voxels.size()),
                ExitCode::kBadInput);
  }
}

// Euclidean distance from each region pixel of a w x h slice to the nearest pixel outside the
// region, pixels beyond the slice's edge counting as outside (0 outside the region). Exact:
// a 1-D pass per column on a frame padded by one outside pixel, then the lower envelope of
// parabolas per row (Felzenszwalb & Huttenlocher, Theory of Computing 8, 2012).
std::vector<double> distance_to_outside(const std::vector<std::uint8_t>& inside, std::size_t w, std::size_t h) {
  const std::size_t pw = w + 2, ph = h + 2;
  auto in = [&](std::size_t x, std::size_t y) {  // padded coordinates
    return x > 0 && y > 0 && x <= w && y <= h && inside[(x - 1) + w * (y - 1)];
  };
  std::vector<double> g(pw * ph);  // squared distance along the column
  for (std::size_t x = 0; x < pw; ++x) {
    double run = 0;
    for (std::size_t y = 0; y < ph; ++y) g[x + pw * y] = run = in(x, y) ? run + 1 : 0;
    run = 0;
    for (std::size_t y = ph; y-- > 0;) {
      run = in(x, y) ? run + 1 : 0;
      g[x + pw * y] = std::min(g[x + pw * y], run);
    }
    for (std::size_t y = 0; y < ph; ++y) g[x + pw * y] *= g[x + pw * y];
  }
  std::vector<double> out(w * h, 0.0), f(pw), z(pw + 1);
  std::vector<std::size_t> v(pw);
  const double inf = std::numeric_limits<double>::infinity();
  for (std::size_t y = 1; y <= h; ++y) {
    for (std::size_t x = 0; x < pw; ++x) f[x] = g[x + pw * y];
    std::size_t k = 0;
    v[0] = 0, z[0] = -inf, z[1] = inf;
    auto meet = [&](std::size_t q, std::size_t p) {  // where the parabolas from q and p intersect
      const double dq = static_cast<double>(q), dp = static_cast<double>(p);
      return ((f[q] + dq * dq) - (f[p] + dp * dp)) / (2 * dq - 2 * dp);
    };
    for (std::size_t q = 1; q < pw; ++q) {
      double s = meet(q, v[k]);
      while (s <= z[k]) s = meet(q, v[--k]);  // z[0] = -inf ends the loop
      ++k;
      v[k] = q, z[k] = s, z[k + 1] = inf;
    }
    k = 0;
    for (std::size_t q = 0; q < pw; ++q) {
      while (z[k + 1] < static_cast<double>(q)) ++k;
      const double d = static_cast<double>(q) - static_cast<double>(v[k]);
      if (q >= 1 && q <= w && inside[(q - 1) + w * (y - 1)]) out[(q - 1) + w * (y - 1)] = std::sqrt(d * d + f[v[k]]);
    }
  }
  return out;
}

}  // namespace

std::array<int, 3> canonical_axes(const io::Geometry& g) { return g.canonical_axes(); }

std::vector<std::uint8_t> evaluation_region(const io::Volume& real, const io::Volume* mask) {
  std::vector<std::uint8_t> region(real.voxels.size(), 0);
  if (mask) {
    for (std::size_t i = 0; i < region.size(); ++i) region[i] = mask->voxels[i] != 0.0f ? 1 : 0;
    return region;
  }
  float low = std::numeric_limits<float>::infinity();
  for (float v : real.voxels)
    if (std::isfinite(v)) low = std::min(low, v);
  for (std::size_t i = 0; i < region.size(); ++i) region[i] = std::isfinite(real.voxels[i]) && real.voxels[i] > low ? 1 : 0;
  return region;
}

ThroughPlaneCoherence through_plane_coherence(const io::Volume& v, const std::vector<std::uint8_t>& region,
                                              unsigned threads) {
  require_region(v, region);
  const io::Geometry& g = v.geometry;
  const std::array<int, 3> axes = canonical_axes(g);
  const std::array<std::size_t, 3> stride = strides_of(g);
  const auto z = static_cast<std::size_t>(axes[2]), x = static_cast<std::size_t>(axes[0]);
  struct Sums {
    double through = 0, in = 0;
    std::size_t through_pairs = 0, in_pairs = 0;
  };
  // Per slice of the third index axis, summed in order afterwards: the figure does not depend
  // on the thread count.
  std::vector<Sums> sums(g.size[2]);
  detail::parallel_for(g.size[2], threads, [&](std::size_t k) {
    Sums& s = sums[k];
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const std::size_t c[3] = {i, j, k};
        const std::size_t at = i + stride[1] * j + stride[2] * k;
        if (!region[at]) continue;
        if (c[z] + 1 < g.size[z] && region[at + stride[z]]) {
          s.through += std::fabs(static_cast<double>(v.voxels[at + stride[z]]) - v.voxels[at]);
          ++s.through_pairs;
        }
        if (c[x] + 1 < g.size[x] && region[at + stride[x]]) {
          s.in += std::fabs(static_cast<double>(v.voxels[at + stride[x]]) - v.voxels[at]);
          ++s.in_pairs;
        }
      }
  });
  Sums t;
  for (const Sums& s : sums) t.through += s.through, t.in += s.in, t.through_pairs += s.through_pairs, t.in_pairs += s.in_pairs;
  ThroughPlaneCoherence r;
  r.through_pairs = t.through_pairs;
  r.in_pairs = t.in_pairs;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  r.through_plane = t.through_pairs ? t.through / static_cast<double>(t.through_pairs) : nan;
  r.in_plane = t.in_pairs ? t.in / static_cast<double>(t.in_pairs) : nan;
  r.coherence = r.in_plane > 0 ? r.through_plane / r.in_plane : nan;
  return r;
}

BandPower in_plane_band_power(const io::Volume& v, const std::vector<std::uint8_t>& region,
                              const BandPowerOptions& options) {
  require_region(v, region);
  const io::Geometry& g = v.geometry;
  const std::array<int, 3> axes = canonical_axes(g);
  const std::array<std::size_t, 3> stride = strides_of(g);
  const auto ax = static_cast<std::size_t>(axes[0]), ay = static_cast<std::size_t>(axes[1]),
             az = static_cast<std::size_t>(axes[2]);
  const std::size_t nx = g.size[ax], ny = g.size[ay], nz = g.size[az];
  BandPower r;
  r.padded = {detail::next_power_of_two(nx), detail::next_power_of_two(ny)};
  const std::size_t px = r.padded[0], py = r.padded[1];
  // Which FFT bins lie in the band: frequencies as numpy.fft.fftfreq (k/N, negative above N/2).
  auto freq = [](std::size_t k, std::size_t n) {
    const double kk = k < (n + 1) / 2 ? static_cast<double>(k) : static_cast<double>(k) - static_cast<double>(n);
    return kk * (1.0 / static_cast<double>(n));
  };
  std::vector<std::uint8_t> in_band(px * py);
  for (std::size_t w = 0; w < py; ++w)
    for (std::size_t u = 0; u < px; ++u) {
      const double fx = freq(u, px), fy = freq(w, py);
      const double f = std::sqrt(fx * fx + fy * fy);
      in_band[u + px * w] = f >= options.low && f <= options.high ? 1 : 0;
    }
  const detail::Fft fft_x(px), fft_y(py);
  struct SlicePower {
    double band = 0, total = 0;
    bool counted = false;
  };
  std::vector<SlicePower> per_slice(nz);
  detail::parallel_for(nz, options.threads, [&](std::size_t k) {
    const std::size_t base = stride[az] * k;
    std::vector<std::uint8_t> inside(nx * ny);
    bool any = false;
    for (std::size_t w = 0; w < ny; ++w)
      for (std::size_t u = 0; u < nx; ++u) {
        inside[u + nx * w] = region[base + stride[ax] * u + stride[ay] * w];
        any = any || inside[u + nx * w];
      }
    if (!any) return;
    // Raised-cosine taper over the region's edge, so the edge adds no step to the spectrum.
    std::vector<double> weight = distance_to_outside(inside, nx, ny);
    const double pi = std::acos(-1.0);
    double wsum = 0, sum = 0;
    for (std::size_t i = 0; i < weight.size(); ++i) {
      if (!inside[i]) continue;
      weight[i] = 0.5 - 0.5 * std::cos(pi * std::min(weight[i], options.taper) / options.taper);
      const std::size_t at = base + stride[ax] * (i % nx) + stride[ay] * (i / nx);
      wsum += weight[i];
      sum += weight[i] * static_cast<double>(v.voxels[at]);
    }
    const double mean = sum / wsum;
    std::vector<std::complex<double>> f(px * py);
    for (std::size_t w = 0; w < ny; ++w) {
      for (std::size_t u = 0; u < nx; ++u) {
        const std::size_t at = base + stride[ax] * u + stride[ay] * w;
        if (inside[u + nx * w]) f[u + px * w] = weight[u + nx * w] * (static_cast<double>(v.voxels[at]) - mean);
      }
      fft_x.forward(f.data() + px * w);  // rows beyond ny are zero and stay zero
    }
    std::vector<std::complex<double>> column(py);
    SlicePower& p = per_slice[k];
    for (std::size_t u = 0; u < px; ++u) {
      for (std::size_t w = 0; w < py; ++w) column[w] = f[u + px * w];
      fft_y.forward(column.data());
      for (std::size_t w = 0; w < py; ++w) {
        const double power = std::norm(column[w]);
        p.total += power;
        if (in_band[u + px * w]) p.band += power;
      }
    }
    p.counted = true;
  });
  for (const SlicePower& p : per_slice) {
    if (!p.counted) continue;
    r.band += p.band;
    r.total += p.total;
    ++r.slices;
  }
  return r;
}

io::Volume permute_axes(const io::Volume& v, const std::array<int, 3>& order) {
  std::array<bool, 3> seen{};
  for (int a : order) {
    if (a < 0 || a > 2 || seen[static_cast<std::size_t>(a)]) throw Error("permute_axes: not a permutation", ExitCode::kRuntime);
    seen[static_cast<std::size_t>(a)] = true;
  }
  const io::Geometry& g = v.geometry;
  io::Volume out;
  out.metadata = v.metadata;
  out.stored_type = v.stored_type;
  out.geometry = g;
  for (std::size_t a = 0; a < 3; ++a) {
    const auto o = static_cast<std::size_t>(order[a]);
    out.geometry.size[a] = g.size[o];
    out.geometry.spacing[a] = g.spacing[o];
    for (int row = 0; row < 3; ++row)
      out.geometry.direction[static_cast<std::size_t>(3 * row) + a] = g.dir(row, static_cast<int>(o));
  }
  const std::array<std::size_t, 3> stride = strides_of(g);
  const std::array<std::size_t, 3> s{stride[static_cast<std::size_t>(order[0])], stride[static_cast<std::size_t>(order[1])],
                                     stride[static_cast<std::size_t>(order[2])]};
  const auto& n = out.geometry.size;
  out.voxels.resize(v.voxels.size());
  std::size_t at = 0;
  for (std::size_t k = 0; k < n[2]; ++k)
    for (std::size_t j = 0; j < n[1]; ++j)
      for (std::size_t i = 0; i < n[0]; ++i) out.voxels[at++] = v.voxels[i * s[0] + j * s[1] + k * s[2]];
  return out;
}

}  // namespace medsynth::validation
