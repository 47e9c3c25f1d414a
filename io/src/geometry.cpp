#include "medsynth/io/geometry.h"

#include <cmath>

#include "medsynth/io/error.h"
#include "medsynth/io/volume.h"

namespace medsynth::io {

std::array<double, 3> Geometry::index_to_physical(double i, double j, double k) const {
  const double idx[3] = {i * spacing[0], j * spacing[1], k * spacing[2]};
  std::array<double, 3> p{};
  for (int r = 0; r < 3; ++r) {
    p[r] = origin[r] + dir(r, 0) * idx[0] + dir(r, 1) * idx[1] + dir(r, 2) * idx[2];
  }
  return p;
}

std::array<double, 3> Geometry::physical_to_index(const std::array<double, 3>& p) const {
  // The direction is orthonormal, so its inverse is its transpose.
  const double d[3] = {p[0] - origin[0], p[1] - origin[1], p[2] - origin[2]};
  std::array<double, 3> idx{};
  for (int c = 0; c < 3; ++c) {
    idx[c] = (dir(0, c) * d[0] + dir(1, c) * d[1] + dir(2, c) * d[2]) / spacing[c];
  }
  return idx;
}

std::string Geometry::orientation_code() const {
  // LPS frame: +x = L, +y = P, +z = S.
  static const char kPositive[3] = {'L', 'P', 'S'};
  static const char kNegative[3] = {'R', 'A', 'I'};
  std::string code;
  for (int c = 0; c < 3; ++c) {
    int best = 0;
    for (int r = 1; r < 3; ++r) {
      if (std::fabs(dir(r, c)) > std::fabs(dir(best, c))) best = r;
    }
    code += dir(best, c) >= 0 ? kPositive[best] : kNegative[best];
  }
  return code;
}

bool Geometry::same_grid(const Geometry& o, double tol) const {
  if (size != o.size) return false;
  for (int a = 0; a < 3; ++a) {
    if (std::fabs(spacing[a] - o.spacing[a]) > tol) return false;
    if (std::fabs(origin[a] - o.origin[a]) > tol) return false;
  }
  for (int a = 0; a < 9; ++a) {
    if (std::fabs(direction[a] - o.direction[a]) > tol) return false;
  }
  return true;
}

void validate_geometry(const Geometry& g, const std::string& source) {
  for (int a = 0; a < 3; ++a) {
    if (g.size[a] == 0) throw Error(source, "image size is zero along axis " + std::to_string(a));
    if (!std::isfinite(g.spacing[a]) || g.spacing[a] <= 0) {
      throw Error(source, "voxel spacing along axis " + std::to_string(a) + " is " +
                              std::to_string(g.spacing[a]) + " (must be finite and positive)");
    }
    if (!std::isfinite(g.origin[a])) throw Error(source, "origin is not finite");
  }
  for (int c = 0; c < 3; ++c) {
    for (int c2 = c; c2 < 3; ++c2) {
      double dot = 0;
      for (int r = 0; r < 3; ++r) dot += g.dir(r, c) * g.dir(r, c2);
      const double want = c == c2 ? 1.0 : 0.0;
      if (!std::isfinite(dot) || std::fabs(dot - want) > 1e-3) {
        throw Error(source, "direction matrix is not orthonormal");
      }
    }
  }
}

std::string to_string(PixelType t) {
  switch (t) {
    case PixelType::kUInt8: return "uint8";
    case PixelType::kInt8: return "int8";
    case PixelType::kUInt16: return "uint16";
    case PixelType::kInt16: return "int16";
    case PixelType::kUInt32: return "uint32";
    case PixelType::kInt32: return "int32";
    case PixelType::kFloat32: return "float32";
    case PixelType::kFloat64: return "float64";
  }
  return "unknown";
}

PixelType pixel_type_from_string(const std::string& name) {
  for (PixelType t : {PixelType::kUInt8, PixelType::kInt8, PixelType::kUInt16, PixelType::kInt16,
                      PixelType::kUInt32, PixelType::kInt32, PixelType::kFloat32,
                      PixelType::kFloat64}) {
    if (to_string(t) == name) return t;
  }
  throw UsageError("unknown pixel type '" + name +
                   "' (choose uint8, int8, uint16, int16, uint32, int32, float32, float64)");
}

std::pair<float, float> intensity_range(const Volume& v) {
  bool any = false;
  float lo = 0, hi = 0;
  for (float x : v.voxels) {
    if (!std::isfinite(x)) continue;
    if (!any) {
      lo = hi = x;
      any = true;
    } else {
      lo = x < lo ? x : lo;
      hi = x > hi ? x : hi;
    }
  }
  return {lo, hi};
}

std::array<int, 3> Geometry::canonical_axes() const {
  std::array<int, 3> axes{};
  std::array<bool, 3> used{};
  for (int a = 0; a < 3; ++a) {
    int best = -1;
    for (int c = 0; c < 3; ++c) {
      if (used[static_cast<std::size_t>(c)]) continue;
      if (best < 0 || std::fabs(dir(a, c)) > std::fabs(dir(a, best))) best = c;
    }
    used[static_cast<std::size_t>(best)] = true;
    axes[static_cast<std::size_t>(a)] = best;
  }
  return axes;
}

}  // namespace medsynth::io
