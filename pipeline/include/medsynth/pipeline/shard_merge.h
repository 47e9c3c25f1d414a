#pragma once
// Joining the shards of one sampling (`sample --shard i/N`, the stage runner's ranks): each shard
// holds the voxels of its slices and NaN elsewhere. Used by `medsynth merge` and the runner.
#include <cmath>
#include <cstddef>
#include <vector>

namespace medsynth::pipeline {

// Copies the shard's voxels that are not NaN into `merged` (of the same size). Returns the index of
// the first voxel both already hold (a voxel made twice: not shards of one run), or -1.
inline long long merge_shard(std::vector<float>& merged, const float* shard) {
  for (std::size_t i = 0; i < merged.size(); ++i) {
    if (std::isnan(shard[i])) continue;
    if (!std::isnan(merged[i])) return static_cast<long long>(i);
    merged[i] = shard[i];
  }
  return -1;
}

// The voxels no shard made (NaN).
inline std::size_t missing_voxels(const std::vector<float>& merged) {
  std::size_t missing = 0;
  for (float x : merged) missing += std::isnan(x) ? 1 : 0;
  return missing;
}

}  // namespace medsynth::pipeline
