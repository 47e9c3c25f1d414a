// Noise, bias field, resolution and resampling against what each must do by definition.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "medsynth/physics/acquisition.h"

namespace medsynth::physics {
namespace {

constexpr double kPi = 3.14159265358979323846;

io::Volume constant(std::array<std::size_t, 3> size, float value, std::array<double, 3> spacing = {1, 1, 1}) {
  io::Volume v;
  v.geometry.size = size;
  v.geometry.spacing = spacing;
  v.voxels.assign(v.geometry.voxel_count(), value);
  return v;
}

std::pair<double, double> mean_sd(const std::vector<float>& x) {
  double m = std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(x.size()), s = 0;
  for (float v : x) s += (v - m) * (v - m);
  return {m, std::sqrt(s / static_cast<double>(x.size()))};
}

TEST(PhysicsAcquisition, RicianNoiseIsRayleighOnBackgroundAndGaussianOnBrightTissue) {
  const double sigma = 10;
  io::Volume zero = constant({64, 64, 16}, 0.0f);
  add_rician_noise(zero, sigma, 1);
  const auto [m0, s0] = mean_sd(zero.voxels);
  // Rayleigh: mean sigma sqrt(pi/2), sd sigma sqrt(2 - pi/2).
  EXPECT_NEAR(m0 / (sigma * std::sqrt(kPi / 2)), 1.0, 0.01);
  EXPECT_NEAR(s0 / (sigma * std::sqrt(2 - kPi / 2)), 1.0, 0.02);
  EXPECT_GE(*std::min_element(zero.voxels.begin(), zero.voxels.end()), 0.0f);  // a magnitude
  io::Volume bright = constant({64, 64, 16}, 1000.0f);
  add_rician_noise(bright, sigma, 2);
  const auto [m1, s1] = mean_sd(bright.voxels);
  EXPECT_NEAR(m1, std::sqrt(1000.0 * 1000.0 + sigma * sigma), 0.3);
  EXPECT_NEAR(s1 / sigma, 1.0, 0.02);
  // Deterministic for a seed, different for another.
  io::Volume a = constant({8, 8, 8}, 5.0f), b = a, c = a;
  add_rician_noise(a, 1, 7), add_rician_noise(b, 1, 7), add_rician_noise(c, 1, 8);
  EXPECT_EQ(a.voxels, b.voxels);
  EXPECT_NE(a.voxels, c.voxels);
}

TEST(PhysicsAcquisition, BiasFieldSpansTheStrengthAndIsSmooth) {
  io::Volume v = constant({40, 48, 30}, 100.0f);
  apply_bias_field(v, 0.2, 3);
  const auto [lo, hi] = std::minmax_element(v.voxels.begin(), v.voxels.end());
  // max |P| = 1 is reached somewhere: one end of the range is exactly 1 -/+ strength.
  EXPECT_TRUE(std::abs(*lo - 80.0f) < 1e-3 || std::abs(*hi - 120.0f) < 1e-3) << *lo << " " << *hi;
  EXPECT_GE(*lo, 80.0f - 1e-3);
  EXPECT_LE(*hi, 120.0f + 1e-3);
  // Smooth: neighbouring voxels differ by a small fraction of the whole range.
  double step = 0;
  for (std::size_t k = 0; k < 30; ++k)
    for (std::size_t j = 0; j < 48; ++j)
      for (std::size_t i = 0; i + 1 < 40; ++i) step = std::max(step, std::abs(double(v.at(i + 1, j, k)) - v.at(i, j, k)));
  EXPECT_LT(step, 0.1 * (*hi - *lo));
  EXPECT_THROW(apply_bias_field(v, 1.5, 0), UsageError);
}

TEST(PhysicsAcquisition, SlabProfileHasTheAskedWidthAndKeepsSignal) {
  // A thin bright plane along k, blurred to a 5 mm slab profile on a 1 mm grid.
  io::Volume v = constant({4, 4, 61}, 0.0f);
  for (std::size_t j = 0; j < 4; ++j)
    for (std::size_t i = 0; i < 4; ++i) v.at(i, j, 30) = 1.0f;
  apply_resolution(v, {1, 1, 5});
  double sum = 0, var = 0;
  for (std::size_t k = 0; k < 61; ++k) sum += v.at(1, 2, k), var += v.at(1, 2, k) * (double(k) - 30) * (double(k) - 30);
  EXPECT_NEAR(sum, 1.0, 1e-5);
  const double sigma = std::sqrt(var / sum), expected = std::sqrt(25.0 - 1.0) / 2.354820045;
  EXPECT_NEAR(sigma / expected, 1.0, 0.01);
  // In-plane FWHM not above the pixel: nothing changes in-plane.
  EXPECT_FLOAT_EQ(v.at(0, 0, 30), v.at(3, 3, 30));
}

TEST(PhysicsAcquisition, ResamplingKeepsTheFieldOfViewAndLinearRamps) {
  io::Volume v = constant({20, 10, 9}, 0.0f, {1, 1, 1});
  v.geometry.origin = {-10, 5, 3};
  for (std::size_t k = 0; k < 9; ++k)
    for (std::size_t j = 0; j < 10; ++j)
      for (std::size_t i = 0; i < 20; ++i) v.at(i, j, k) = static_cast<float>(2.0 * i + 0.5 * k);
  const io::Volume r = resample_to_spacing(v, {2, 1, 3});
  EXPECT_EQ(r.geometry.size, (std::array<std::size_t, 3>{10, 10, 3}));
  // The field of view's centre is where it was.
  auto centre = [](const io::Geometry& g) {
    return g.index_to_physical((double(g.size[0]) - 1) / 2, (double(g.size[1]) - 1) / 2, (double(g.size[2]) - 1) / 2);
  };
  for (int a = 0; a < 3; ++a) EXPECT_NEAR(centre(r.geometry)[a], centre(v.geometry)[a], 1e-9);
  // Trilinear interpolation is exact on a linear ramp (inside the grid).
  for (std::size_t i = 1; i + 1 < 10; ++i) {
    const auto p = r.geometry.index_to_physical(double(i), 4, 1);
    const auto x = v.geometry.physical_to_index(p);
    EXPECT_NEAR(r.at(i, 4, 1), 2.0 * x[0] + 0.5 * x[2], 1e-4);
  }
}

}  // namespace
}  // namespace medsynth::physics
