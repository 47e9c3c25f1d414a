#pragma once
// Sampling whole volumes slice by slice: conditions are resampled onto the model's slice grid,
// slices are sampled in batches (each slice's noise seeded by (seed, slice index)), and the stack
// goes back onto the condition's grid. Shards take whole batches, so the union of shards equals a
// single run bit for bit. Needs LibTorch.
#include <string>
#include <vector>

#include "medsynth/io/volume.h"
#include "medsynth/pipeline/config.h"

namespace medsynth::pipeline {

struct SynthesisRequest {
  std::string checkpoint;
  std::string labels;   // label map volume (condition)
  std::string source;   // source image volume (condition)
  std::string like;     // a volume whose grid the output takes (class-only or unconditional)
  int class_id = -1;
  int slices = 0;       // without any volume: this many slices on a grid x grid x slices grid
  SampleConfig sample;
  std::string device = "cpu";
  int threads = 0;
  int shard_index = 0, shard_count = 1;
  bool progress = true;
};

struct SynthesisResult {
  io::Volume volume;            // slices outside this shard are NaN
  std::vector<int> slices_done; // canonical slice indices sampled here
  double seconds = 0;
};

SynthesisResult synthesise(const SynthesisRequest& request);

}  // namespace medsynth::pipeline
