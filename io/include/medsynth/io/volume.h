#pragma once
// A 3-D image (2-D images have size[2] == 1) with its geometry and a small metadata map.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

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

}  // namespace medsynth::io
