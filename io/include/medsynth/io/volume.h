#pragma once
// A 3-D image (2-D images have size[2] == 1) with its geometry and a small metadata map.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "medsynth/io/error.h"
#include "medsynth/io/geometry.h"

namespace medsynth::io {

// The component type a file stored its voxels in. Volumes hold voxels as float (labels as int32);
// writers use the stored type by default so that a read → write round trip is bit-exact.
enum class PixelType { kUInt8, kInt8, kUInt16, kInt16, kUInt32, kInt32, kFloat32, kFloat64 };
std::string to_string(PixelType t);
PixelType pixel_type_from_string(const std::string& name);  // throws medsynth::Error

using Metadata = std::map<std::string, std::string>;

template <typename T>
struct Image {
  Geometry geometry;
  std::vector<T> voxels;  // x fastest, then y, then z
  Metadata metadata;      // "modality", "series_description", "series_uid", "source", ...
  PixelType stored_type = PixelType::kFloat32;

  std::size_t index(std::size_t i, std::size_t j, std::size_t k) const {
    return i + geometry.size[0] * (j + geometry.size[1] * k);
  }
  T& at(std::size_t i, std::size_t j, std::size_t k) { return voxels[index(i, j, k)]; }
  const T& at(std::size_t i, std::size_t j, std::size_t k) const { return voxels[index(i, j, k)]; }
};

using Volume = Image<float>;
using LabelVolume = Image<std::int32_t>;

// Smallest and largest finite voxel value (0, 0 for an empty volume).
std::pair<float, float> intensity_range(const Volume& v);

// One slice k (third index axis) as a one-slice volume, keeping its physical position; `path`
// names the file in the error for a k outside the volume.
template <typename T>
Image<T> extract_slice(const Image<T>& v, std::size_t k, const std::string& path) {
  const auto& g = v.geometry;
  if (k >= g.size[2]) {
    throw Error(path, "slice " + std::to_string(k) + " is outside 0.." + std::to_string(g.size[2] - 1));
  }
  Image<T> s = v;
  s.geometry.size[2] = 1;
  s.geometry.origin = g.index_to_physical(0, 0, static_cast<double>(k));
  const std::size_t n = g.size[0] * g.size[1];
  s.voxels.assign(v.voxels.begin() + static_cast<long>(k * n), v.voxels.begin() + static_cast<long>((k + 1) * n));
  return s;
}

}  // namespace medsynth::io
