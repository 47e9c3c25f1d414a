#include <gtest/gtest.h>

#include <cmath>

#include "medsynth/io/error.h"
#include "medsynth/io/geometry.h"

using medsynth::io::Geometry;

TEST(Geometry, IndexToPhysicalAndBackAreInverse) {
  Geometry g;
  g.size = {10, 20, 30};
  g.spacing = {0.5, 1.5, 2.0};
  g.origin = {-10, 5, 7};
  const double c = std::cos(0.3), s = std::sin(0.3);
  g.direction = {c, -s, 0, s, c, 0, 0, 0, 1};
  auto p = g.index_to_physical(3, 4, 5);
  auto idx = g.physical_to_index(p);
  EXPECT_NEAR(idx[0], 3, 1e-9);
  EXPECT_NEAR(idx[1], 4, 1e-9);
  EXPECT_NEAR(idx[2], 5, 1e-9);
  EXPECT_NEAR(p[2], 7 + 5 * 2.0, 1e-9);
}

TEST(Geometry, OrientationCodeNamesWhereAxesPoint) {
  Geometry g;
  EXPECT_EQ(g.orientation_code(), "LPS");
  g.direction = {-1, 0, 0, 0, -1, 0, 0, 0, 1};
  EXPECT_EQ(g.orientation_code(), "RAS");
  g.direction = {-1, 0, 0, 0, 0, 1, 0, -1, 0};  // x→R, y→I... columns: (-1,0,0), (0,0,-1), (0,1,0)
  EXPECT_EQ(g.orientation_code(), "RIP");
}

TEST(Geometry, ValidateRejectsZeroSpacingAndSkewedDirection) {
  Geometry g;
  g.spacing = {1, 0, 1};
  EXPECT_THROW(medsynth::io::validate_geometry(g, "x"), medsynth::io::Error);
  g.spacing = {1, 1, 1};
  g.direction = {1, 0.5, 0, 0, 1, 0, 0, 0, 1};
  EXPECT_THROW(medsynth::io::validate_geometry(g, "x"), medsynth::io::Error);
  g.direction = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  EXPECT_NO_THROW(medsynth::io::validate_geometry(g, "x"));
}
