#include "medsynth/validation/slice.h"

#include <cmath>

namespace medsynth::validation {

std::size_t SliceMask::count() const {
  std::size_t n = 0;
  for (auto v : inside) n += v ? 1 : 0;
  return n;
}

Slice slice_of(const io::Volume& v, std::size_t k) {
  Slice s;
  s.width = v.geometry.size[0];
  s.height = v.geometry.size[1];
  const auto begin = v.voxels.begin() + static_cast<std::ptrdiff_t>(k * s.size());
  s.pixels.assign(begin, begin + static_cast<std::ptrdiff_t>(s.size()));
  return s;
}

std::vector<Slice> slices_of(const io::Volume& v) {
  std::vector<Slice> out;
  out.reserve(v.geometry.size[2]);
  for (std::size_t k = 0; k < v.geometry.size[2]; ++k) out.push_back(slice_of(v, k));
  return out;
}

SliceMask mask_slice_of(const io::Volume& mask, std::size_t k) {
  SliceMask m;
  m.width = mask.geometry.size[0];
  m.height = mask.geometry.size[1];
  m.inside.resize(m.width * m.height);
  const float* p = mask.voxels.data() + k * m.inside.size();
  for (std::size_t i = 0; i < m.inside.size(); ++i) m.inside[i] = p[i] != 0.0f ? 1 : 0;
  return m;
}

bool is_nonconstant(const Slice& s) {
  bool seen = false;
  float first = 0;
  for (float v : s.pixels) {
    if (!std::isfinite(v)) continue;
    if (!seen) {
      first = v;
      seen = true;
    } else if (v != first) {
      return true;
    }
  }
  return false;
}

}  // namespace medsynth::validation
