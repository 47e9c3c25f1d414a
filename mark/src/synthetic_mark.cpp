#include "medsynth/mark/synthetic_mark.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "medsynth/version.h"

namespace medsynth::mark {
namespace {

using cd = std::complex<double>;
constexpr int T = kTile;
constexpr int kCells = T * T;
constexpr int kDataTiles = 5;
constexpr int kSymbolBits = 12;  // a circular shift (dx, dy) of a 64x64 tile
constexpr int kTiles = 1 + kDataTiles;
// The key: public (anyone may check a file), fixed (every medsynth version reads every mark).
constexpr std::uint64_t kKey = 0x6d656473796e7468ULL;  // "medsynth"
constexpr double kBandLow = 0.09, kBandHigh = 0.28;    // cycles per pixel
// Half the energy in the pilot (detection), half shared by the data tiles (payload).
const double kPilotWeight = std::sqrt(0.5);
const double kDataWeight = std::sqrt(0.5 / kDataTiles);
constexpr int kSearchPlanes = 16;  // slices per axis used to search scale and orientation
constexpr int kMaxPlanes = 96;     // slices folded for the final score and the payload

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// In-place radix-2 FFT of n = 2^m values spaced by `stride`.
void fft1(cd* a, int n, int stride, bool inverse) {
  for (int i = 1, j = 0; i < n; ++i) {
    int bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i * stride], a[j * stride]);
  }
  for (int len = 2; len <= n; len <<= 1) {
    const double ang = 2 * M_PI / len * (inverse ? 1 : -1);
    const cd wl(std::cos(ang), std::sin(ang));
    for (int i = 0; i < n; i += len) {
      cd w(1);
      for (int k = 0; k < len / 2; ++k) {
        const cd u = a[(i + k) * stride], v = a[(i + k + len / 2) * stride] * w;
        a[(i + k) * stride] = u + v;
        a[(i + k + len / 2) * stride] = u - v;
        w *= wl;
      }
    }
  }
}

// 2-D FFT of a T x T array (index v * T + u); the inverse is scaled by 1 / T^2.
void fft2(std::vector<cd>& a, bool inverse) {
  for (int v = 0; v < T; ++v) fft1(a.data() + v * T, T, 1, inverse);
  for (int u = 0; u < T; ++u) fft1(a.data() + u, T, T, inverse);
  if (inverse) {
    for (auto& x : a) x /= static_cast<double>(kCells);
  }
}

int signed_bin(int k) { return k >= T / 2 ? k - T : k; }

bool in_band(int ku, int kv) {
  const double f = std::hypot(signed_bin(ku), signed_bin(kv)) / T;
  return f >= kBandLow && f <= kBandHigh;
}

struct Tiles {
  std::array<std::vector<double>, kTiles> spatial;       // unit RMS
  std::array<std::vector<cd>, kTiles> spectrum_conj;     // conj(FFT(spatial))
};

// White noise from the key, its spectrum flattened to unit magnitude in the band and zero
// outside (phase kept), back to pixels: every band frequency carries the same energy, which is
// what the phase-only correlation of the detector weighs.
Tiles make_tiles() {
  Tiles t;
  for (int k = 0; k < kTiles; ++k) {
    std::uint64_t state = kKey ^ (0x1000193ULL * static_cast<std::uint64_t>(k + 1));
    std::vector<cd> a(kCells);
    for (auto& x : a) x = cd(static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53 * 2.0 - 1.0, 0.0);
    fft2(a, false);
    for (int v = 0; v < T; ++v) {
      for (int u = 0; u < T; ++u) {
        cd& x = a[v * T + u];
        x = (in_band(u, v) && std::abs(x) > 0) ? x / std::abs(x) : cd(0);
      }
    }
    fft2(a, true);
    std::vector<double> s(kCells);
    double power = 0;
    for (int i = 0; i < kCells; ++i) power += a[i].real() * a[i].real();
    const double scale = 1.0 / std::sqrt(power / kCells);
    for (int i = 0; i < kCells; ++i) s[i] = a[i].real() * scale;
    std::vector<cd> spec(s.begin(), s.end());
    fft2(spec, false);
    for (auto& x : spec) x = std::conj(x);
    t.spatial[k] = std::move(s);
    t.spectrum_conj[k] = std::move(spec);
  }
  return t;
}

const Tiles& tiles() {
  static const Tiles t = make_tiles();
  return t;
}

// CRC-12 (polynomial 0x80F) of the low `bits` bits of `word`.
std::uint32_t crc12(std::uint64_t word, int bits) {
  std::uint32_t crc = 0;
  for (int i = bits - 1; i >= 0; --i) {
    const bool in = ((word >> i) & 1) != 0;
    const bool top = (crc & 0x800) != 0;
    crc = (crc << 1) & 0xFFF;
    if (in != top) crc ^= 0x80F;
  }
  return crc;
}

constexpr int kPayloadBits = 48;

std::uint64_t pack(const Payload& p) {
  const std::uint64_t bits = static_cast<std::uint64_t>(p.major & 15) | static_cast<std::uint64_t>(p.minor & 63) << 4 |
                             static_cast<std::uint64_t>(p.patch & 63) << 10 | static_cast<std::uint64_t>(p.run_id) << 16;
  return bits | static_cast<std::uint64_t>(crc12(bits, kPayloadBits)) << kPayloadBits;
}

bool unpack(std::uint64_t word, Payload* p) {
  const std::uint64_t bits = word & ((1ULL << kPayloadBits) - 1);
  if ((word >> kPayloadBits) != crc12(bits, kPayloadBits)) return false;
  p->major = static_cast<int>(bits & 15);
  p->minor = static_cast<int>((bits >> 4) & 63);
  p->patch = static_cast<int>((bits >> 10) & 63);
  p->run_id = static_cast<std::uint32_t>(bits >> 16);
  return true;
}

// The whole tile: pilot plus the data tiles shifted by their symbols, at unit RMS.
std::vector<double> combined_tile(const Payload& payload) {
  const Tiles& t = tiles();
  const std::uint64_t word = pack(payload);
  std::vector<double> m(kCells);
  for (int i = 0; i < kCells; ++i) m[i] = kPilotWeight * t.spatial[0][i];
  for (int j = 0; j < kDataTiles; ++j) {
    const int sym = static_cast<int>((word >> (kSymbolBits * j)) & 0xFFF);
    const int dx = sym & (T - 1), dy = sym >> 6;
    for (int v = 0; v < T; ++v) {
      for (int u = 0; u < T; ++u) {
        m[v * T + u] += kDataWeight * t.spatial[1 + j][((v - dy) & (T - 1)) * T + ((u - dx) & (T - 1))];
      }
    }
  }
  double power = 0;
  for (double x : m) power += x * x;
  const double scale = 1.0 / std::sqrt(power / kCells);
  for (double& x : m) x *= scale;
  return m;
}

// One slice of a volume: the high-pass residual, divided by its local RMS (so that flat and
// textured regions weigh alike) and clipped; NaN voxels give 0.
struct Plane {
  int width = 0, height = 0;
  std::vector<float> r;
};

void gaussian_blur(std::vector<float>& a, int w, int h, double sigma) {
  const int rad = static_cast<int>(std::ceil(3 * sigma));
  std::vector<float> k(static_cast<std::size_t>(2 * rad + 1));
  double sum = 0;
  for (int i = -rad; i <= rad; ++i) sum += k[static_cast<std::size_t>(i + rad)] = static_cast<float>(std::exp(-0.5 * i * i / (sigma * sigma)));
  for (auto& x : k) x = static_cast<float>(x / sum);
  std::vector<float> tmp(a.size());
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      float s = 0;
      for (int i = -rad; i <= rad; ++i) s += k[static_cast<std::size_t>(i + rad)] * a[static_cast<std::size_t>(y * w + std::clamp(x + i, 0, w - 1))];
      tmp[static_cast<std::size_t>(y * w + x)] = s;
    }
  }
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      float s = 0;
      for (int i = -rad; i <= rad; ++i) s += k[static_cast<std::size_t>(i + rad)] * tmp[static_cast<std::size_t>(std::clamp(y + i, 0, h - 1) * w + x)];
      a[static_cast<std::size_t>(y * w + x)] = s;
    }
  }
}

// The two in-plane index axes of slice axis `axis`, in index order.
std::array<int, 2> in_plane(int axis) {
  return axis == 0 ? std::array<int, 2>{1, 2} : axis == 1 ? std::array<int, 2>{0, 2} : std::array<int, 2>{0, 1};
}

// Returns false for a slice without structure (constant, or nearly all NaN).
bool make_plane(const io::Volume& v, int axis, std::size_t k, Plane* p) {
  const auto& size = v.geometry.size;
  const auto ax = in_plane(axis);
  const int w = static_cast<int>(size[static_cast<std::size_t>(ax[0])]), h = static_cast<int>(size[static_cast<std::size_t>(ax[1])]);
  if (w < 16 || h < 16) return false;
  std::vector<float> x(static_cast<std::size_t>(w) * static_cast<std::size_t>(h));
  std::vector<char> finite(x.size());
  double sum = 0;
  std::size_t n = 0;
  float lo = std::numeric_limits<float>::max(), hi = std::numeric_limits<float>::lowest();
  std::array<std::size_t, 3> idx{};
  idx[static_cast<std::size_t>(axis)] = k;
  for (int yy = 0; yy < h; ++yy) {
    for (int xx = 0; xx < w; ++xx) {
      idx[static_cast<std::size_t>(ax[0])] = static_cast<std::size_t>(xx);
      idx[static_cast<std::size_t>(ax[1])] = static_cast<std::size_t>(yy);
      const float val = v.voxels[v.index(idx[0], idx[1], idx[2])];
      const std::size_t i = static_cast<std::size_t>(yy * w + xx);
      x[i] = val;
      finite[i] = std::isfinite(val);
      if (finite[i]) {
        sum += val;
        ++n;
        lo = std::min(lo, val);
        hi = std::max(hi, val);
      }
    }
  }
  if (n < x.size() / 4 || !(hi > lo)) return false;
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!finite[i]) x[i] = mean;
  }
  std::vector<float> blur = x;
  gaussian_blur(blur, w, h, 2.0);
  std::vector<float> r(x.size()), var(x.size());
  double power = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    r[i] = x[i] - blur[i];
    var[i] = r[i] * r[i];
    power += var[i];
  }
  if (!(power > 0)) return false;
  gaussian_blur(var, w, h, 4.0);
  // The floor keeps nearly flat regions from being amplified more than 10x.
  const float floor = static_cast<float>(0.01 * power / static_cast<double>(x.size()));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float z = finite[i] ? r[i] / std::sqrt(var[i] + floor) : 0.0f;
    r[i] = std::clamp(z, -4.0f, 4.0f);
  }
  p->width = w;
  p->height = h;
  p->r = std::move(r);
  return true;
}

// Sum of the planes' residuals modulo the tile, the pattern magnified `scale` times.
std::vector<cd> fold(const std::vector<Plane>& planes, double scale) {
  std::vector<double> f(kCells, 0.0);
  std::vector<int> ui, vi;
  for (const Plane& p : planes) {
    ui.resize(static_cast<std::size_t>(p.width));
    vi.resize(static_cast<std::size_t>(p.height));
    for (int x = 0; x < p.width; ++x) ui[static_cast<std::size_t>(x)] = static_cast<int>(x / scale) & (T - 1);
    for (int y = 0; y < p.height; ++y) vi[static_cast<std::size_t>(y)] = (static_cast<int>(y / scale) & (T - 1)) * T;
    const float* r = p.r.data();
    for (int y = 0; y < p.height; ++y) {
      double* row = f.data() + vi[static_cast<std::size_t>(y)];
      for (int x = 0; x < p.width; ++x) row[ui[static_cast<std::size_t>(x)]] += r[y * p.width + x];
    }
  }
  std::vector<cd> a(f.begin(), f.end());
  fft2(a, false);
  // Whitened in the band by the mean power of each ring of frequencies: the anatomy's spectrum
  // falls steeply with frequency, the tiles' is flat. (Per-frequency phase-only weighting would
  // cap the score near sqrt(band size) however many slices are folded.)
  std::vector<double> ring_power(T, 0.0), ring_count(T, 0.0);
  auto ring = [](int u, int v) { return static_cast<int>(std::lround(std::hypot(signed_bin(u), signed_bin(v)))); };
  for (int v = 0; v < T; ++v) {
    for (int u = 0; u < T; ++u) {
      if (!in_band(u, v)) continue;
      ring_power[static_cast<std::size_t>(ring(u, v))] += std::norm(a[v * T + u]);
      ring_count[static_cast<std::size_t>(ring(u, v))] += 1;
    }
  }
  for (int v = 0; v < T; ++v) {
    for (int u = 0; u < T; ++u) {
      cd& x = a[v * T + u];
      const auto r = static_cast<std::size_t>(ring(u, v));
      const double p = in_band(u, v) ? ring_power[r] / ring_count[r] : 0.0;
      x = p > 1e-300 ? x / std::sqrt(p) : cd(0);
    }
  }
  return a;
}

// The spectrum of the fold seen through orientation d (bit 0: transpose, bit 1: flip u, bit 2:
// flip v): for a signed permutation D, F(D w) has the spectrum F^(D k).
std::vector<cd> oriented(const std::vector<cd>& g, int d) {
  std::vector<cd> out(kCells);
  for (int kv = 0; kv < T; ++kv) {
    for (int ku = 0; ku < T; ++ku) {
      int pu = (d & 1) ? kv : ku, pv = (d & 1) ? ku : kv;
      if (d & 2) pu = (T - pu) & (T - 1);
      if (d & 4) pv = (T - pv) & (T - 1);
      out[kv * T + ku] = g[pv * T + pu];
    }
  }
  return out;
}

struct Peak {
  double z = -1e9;
  int u = 0, v = 0;
};

Peak correlate(const std::vector<cd>& g, int tile) {
  const auto& p = tiles().spectrum_conj[static_cast<std::size_t>(tile)];
  std::vector<cd> c(kCells);
  for (int i = 0; i < kCells; ++i) c[i] = g[i] * p[i];
  fft2(c, true);
  double sum = 0, sum2 = 0, best = -1e300;
  int at = 0;
  for (int i = 0; i < kCells; ++i) {
    const double x = c[i].real();
    sum += x;
    sum2 += x * x;
    if (x > best) {
      best = x;
      at = i;
    }
  }
  const double mean = sum / kCells, sd = std::sqrt(std::max(1e-300, sum2 / kCells - mean * mean));
  Peak pk;
  pk.z = (best - mean) / sd;
  pk.u = at % T;
  pk.v = at / T;
  return pk;
}

struct Candidate {
  double z = -1e9;
  double scale = 1;
  int axis = 2, orientation = 0;
};

Peak peak_of(const std::vector<double>& c) {
  double sum = 0, sum2 = 0, best = -1e300;
  int at = 0;
  for (int i = 0; i < kCells; ++i) {
    sum += c[static_cast<std::size_t>(i)];
    sum2 += c[static_cast<std::size_t>(i)] * c[static_cast<std::size_t>(i)];
    if (c[static_cast<std::size_t>(i)] > best) {
      best = c[static_cast<std::size_t>(i)];
      at = i;
    }
  }
  const double mean = sum / kCells, sd = std::sqrt(std::max(1e-300, sum2 / kCells - mean * mean));
  return {(best - mean) / sd, at % T, at / T};
}

Candidate best_orientation(const std::vector<cd>& g, double scale, int axis) {
  Candidate c;
  c.scale = scale;
  c.axis = axis;
  const auto& p = tiles().spectrum_conj[0];
  // Both correlations are real, so two orientations share one inverse FFT (real and imaginary part).
  std::vector<cd> x(kCells);
  std::vector<double> re(kCells), im(kCells);
  for (int d = 0; d < 8; d += 2) {
    const std::vector<cd> a = oriented(g, d), b = oriented(g, d + 1);
    for (int i = 0; i < kCells; ++i) x[static_cast<std::size_t>(i)] = a[static_cast<std::size_t>(i)] * p[static_cast<std::size_t>(i)] + cd(0, 1) * (b[static_cast<std::size_t>(i)] * p[static_cast<std::size_t>(i)]);
    fft2(x, true);
    for (int i = 0; i < kCells; ++i) {
      re[static_cast<std::size_t>(i)] = x[static_cast<std::size_t>(i)].real();
      im[static_cast<std::size_t>(i)] = x[static_cast<std::size_t>(i)].imag();
    }
    const Peak pa = peak_of(re), pb = peak_of(im);
    if (pa.z > c.z) {
      c.z = pa.z;
      c.orientation = d;
    }
    if (pb.z > c.z) {
      c.z = pb.z;
      c.orientation = d + 1;
    }
  }
  return c;
}

// Gaussian tail of a score times the hypotheses tried: the chance that an unmarked volume scores
// as high somewhere (the scores of real scans follow it: docs/ethics.md).
double false_alarm(double z, double hypotheses) {
  return std::min(1.0, hypotheses * 0.5 * std::erfc(z / std::sqrt(2.0)));
}

// The score at which false_alarm() reaches kFalseAlarmLimit, never below kMinScore.
double threshold(double hypotheses) {
  double lo = kMinScore, hi = 40;
  if (false_alarm(lo, hypotheses) <= kFalseAlarmLimit) return lo;
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    (false_alarm(mid, hypotheses) > kFalseAlarmLimit ? lo : hi) = mid;
  }
  return hi;
}

std::vector<std::size_t> spread(std::size_t n, std::size_t most) {
  std::vector<std::size_t> out;
  if (n <= most) {
    for (std::size_t k = 0; k < n; ++k) out.push_back(k);
    return out;
  }
  for (std::size_t i = 0; i < most; ++i) out.push_back((2 * i + 1) * n / (2 * most));
  return out;
}

std::vector<Plane> planes_of(const io::Volume& v, int axis, std::size_t most) {
  std::vector<Plane> planes;
  const std::size_t n = v.geometry.size[static_cast<std::size_t>(axis)];
  for (std::size_t k : spread(n, most)) {
    Plane p;
    if (make_plane(v, axis, k, &p)) planes.push_back(std::move(p));
  }
  return planes;
}

}  // namespace

Payload current_payload(std::uint32_t run_id) {
  Payload p;
  std::sscanf(kVersion, "%d.%d.%d", &p.major, &p.minor, &p.patch);
  p.run_id = run_id;
  return p;
}

std::string version_text(const Payload& p) {
  return std::to_string(p.major) + "." + std::to_string(p.minor) + "." + std::to_string(p.patch);
}

std::string run_id_text(std::uint32_t id) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", id);
  return buf;
}

io::Volume mark_pattern(const io::Volume& like, const Payload& payload, double rms) {
  io::Volume m = like;
  std::fill(m.voxels.begin(), m.voxels.end(), 0.0f);
  embed_mark(m, payload, rms);
  return m;
}

void embed_mark(io::Volume& volume, const Payload& payload, double rms, const std::vector<std::uint8_t>* region) {
  if (region && region->size() != volume.voxels.size()) throw medsynth::Error("embed_mark: region is not on the volume's grid");
  const std::vector<double> m = combined_tile(payload);
  const auto& size = volume.geometry.size;
  // The axial slices the models sample: u along the index axis nearest L, v nearest P.
  const auto axes = volume.geometry.canonical_axes();
  std::array<std::size_t, 3> idx{};
  for (idx[2] = 0; idx[2] < size[2]; ++idx[2]) {
    for (idx[1] = 0; idx[1] < size[1]; ++idx[1]) {
      for (idx[0] = 0; idx[0] < size[0]; ++idx[0]) {
        const std::size_t i = volume.index(idx[0], idx[1], idx[2]);
        float& x = volume.voxels[i];
        if (!std::isfinite(x) || (region && !(*region)[i])) continue;
        const std::size_t u = idx[static_cast<std::size_t>(axes[0])] % T, v = idx[static_cast<std::size_t>(axes[1])] % T;
        x += static_cast<float>(rms * m[v * T + u]);
      }
    }
  }
}

Detection detect_mark(const io::Volume& volume) {
  Detection det;
  const auto& size = volume.geometry.size;
  // Slice axes to try: the canonical axial one first (where the mark is written), then the others;
  // a 2-D image has one.
  std::vector<int> axes;
  const int axial = volume.geometry.canonical_axes()[2];
  for (int a : {axial, 0, 1, 2}) {
    if (std::find(axes.begin(), axes.end(), a) != axes.end()) continue;
    const auto ip = in_plane(a);
    if (size[static_cast<std::size_t>(ip[0])] >= 16 && size[static_cast<std::size_t>(ip[1])] >= 16) axes.push_back(a);
  }
  std::vector<double> coarse;
  for (double s = 0.65; s <= 1.56; s *= 1.015) coarse.push_back(s);

  Candidate best;
  double hypotheses = 0;
  for (int axis : axes) {
    const std::vector<Plane> planes = planes_of(volume, axis, kSearchPlanes);
    if (planes.empty()) continue;
    Candidate c = best_orientation(fold(planes, 1.0), 1.0, axis);
    hypotheses += 8.0 * kCells;
    if (c.z < threshold(hypotheses)) {
      // Not found at the written scale: the file may have been resampled. A coarse scan of the
      // magnification, then a finer one around its best.
      for (double s : coarse) {
        const Candidate cs = best_orientation(fold(planes, s), s, axis);
        if (cs.z > c.z) c = cs;
      }
      const double centre = c.scale;
      for (int k = -6; k <= 6; ++k) {
        const double s = centre * std::pow(1.0025, k);
        const Candidate cs = best_orientation(fold(planes, s), s, axis);
        if (cs.z > c.z) c = cs;
      }
      hypotheses += 8.0 * kCells * static_cast<double>(coarse.size() + 13);
    }
    if (c.z > best.z) best = c;
    if (best.z >= threshold(hypotheses)) break;
  }
  if (best.z < -1e8) return det;  // nothing with structure to look at

  // The final score and the payload from (up to kMaxPlanes) slices along the axis found.
  const std::vector<Plane> planes = planes_of(volume, best.axis, kMaxPlanes);
  const std::vector<cd> g = fold(planes, best.scale);
  const Candidate full = best_orientation(g, best.scale, best.axis);
  const std::vector<cd> go = oriented(g, full.orientation);
  const Peak pilot = correlate(go, 0);
  det.score = pilot.z;
  det.scale = best.scale;
  det.axis = best.axis;
  det.orientation = full.orientation;
  det.planes = planes.size();
  det.false_alarm = false_alarm(det.score, hypotheses);  // positions x orientations x scales x axes tried
  det.found = det.score >= threshold(hypotheses);
  if (!det.found) return det;
  std::uint64_t word = 0;
  det.payload_score = 1e9;
  for (int j = 0; j < kDataTiles; ++j) {
    const Peak p = correlate(go, 1 + j);
    det.payload_score = std::min(det.payload_score, p.z);
    const int dx = (p.u - pilot.u) & (T - 1), dy = (p.v - pilot.v) & (T - 1);
    word |= static_cast<std::uint64_t>(dx | dy << 6) << (kSymbolBits * j);
  }
  det.payload_valid = unpack(word, &det.payload);
  return det;
}

}  // namespace medsynth::mark
