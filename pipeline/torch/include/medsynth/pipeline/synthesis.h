#pragma once
// Sampling whole volumes slice by slice: conditions are resampled onto the model's slice grid,
// slices are sampled in batches (each slice's noise seeded by (seed, slice index)), and the stack
// goes back onto the condition's grid. Shards take whole batches, so the union of shards equals a
// single run bit for bit. Needs LibTorch.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "medsynth/cost.h"
#include "medsynth/io/volume.h"
#include "medsynth/pipeline/config.h"

namespace medsynth::pipeline {

struct SynthesisRequest {
  std::string checkpoint;
  std::string labels;   // label map volume (condition)
  std::string source;   // source image volume (condition)
  std::string like;     // a volume whose grid the output takes (class-only or unconditional)
  int class_id = -1;
  // Acquisition attributes (sample --prompt, acquisition.h): empty: none given (the model's
  // "not given"); an attribute the model was not trained on is refused.
  nlohmann::json attributes = nlohmann::json::object();
  int slices = 0;       // without any volume: this many slices on a grid x grid x slices grid (native: image_size)
  SampleConfig sample;
  std::string device = "cpu";
  int threads = 0;
  int shard_index = 0, shard_count = 1;
  bool progress = true;
  // The synthetic mark in the voxels (medsynth/mark): on unless the user turns it off.
  bool mark = true;
};

struct SynthesisResult {
  io::Volume volume;            // slices outside this shard are NaN
  std::vector<int> slices_done; // canonical slice indices sampled here
  std::string mark_run_id;      // the run id the mark carries ("" when unmarked)
  double seconds = 0;
  cost::ResourceUse cost;       // of this call, per slice sampled (medsynth/cost.h)
};

SynthesisResult synthesise(const SynthesisRequest& request);

}  // namespace medsynth::pipeline

// Pieces shared with the edit commands (they need LibTorch: torch_commands only).
#include "medsynth/modules/generative_model.h"
#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "medsynth/pipeline/slice_grid.h"

namespace medsynth::pipeline {

// The slice grid a model samples on for a volume of `geometry`: for a model trained at
// data.grid = native, the volume at the training pixel size (`info.pixel`; the volume's own
// spacing for checkpoints without one), grid x grid otherwise.
SliceGrid model_grid(const io::Geometry& geometry, const RunConfig& run, const CheckpointInfo& info);

// The conditions of a volume's slices on a model's slice grid, batched on demand.
struct SliceConditions {
  std::vector<std::int32_t> labels;  // Z x H x W label ids of the model (empty: none)
  std::vector<float> source;         // Z x H x W in [-1, 1] (empty: none)
  int class_id = -1;                 // < 0: none
  bool position = false;             // the model takes the slice position
  std::vector<float> acquisition, acquisition_mask;  // one scan's acquisition vector (empty: none)
  bool native = false;               // the grid is native (coordinates in mm)

  // Slices [k0, k1) as a model condition on `device`, each with model.context neighbours on
  // each side (clamped at the volume's ends) and, for model.coordinates, its pixel positions.
  modules::Condition batch(std::size_t k0, std::size_t k1, const SliceGrid& grid, const modules::ModelConfig& model,
                           torch::Device device) const;
};

// The part of a slice a sampler works on: pixels [x, x + width) x [y, y + height).
struct CropBox {
  int x = 0, y = 0, width = 0, height = 0;
};
constexpr int kCropMargin = 16;  // pixels of label 0 kept around the tissue (the network's context)
// The box of slices [k0, k1)'s non-zero label ids (and their context slices), grown by
// kCropMargin; empty (width 0) when no slice has any.
CropBox tissue_box(const SliceConditions& conditions, const SliceGrid& grid, const modules::ModelConfig& model,
                   std::size_t k0, std::size_t k1);
// The condition's image-shaped parts cut to `box`.
modules::Condition crop_condition(modules::Condition condition, const CropBox& box);

// The start-noise anchors of slices [k0, k1) (sample.noise; modules::SampleOptions::anchor_*).
void set_noise_anchors(modules::SampleOptions& options, const SampleConfig& sample, std::size_t k0, std::size_t k1);

// A label map's values as the model's label ids on the slice grid; a value the model never saw
// in training is refused, naming the file.
std::vector<std::int32_t> label_ids_on_grid(const SliceGrid& grid, const io::LabelVolume& labels,
                                            const std::string& path, const CheckpointInfo& info);

// A source image (other contrast, sketch) on the slice grid, in [-1, 1] by the training data's
// source window rule.
std::vector<float> source_on_grid(const SliceGrid& grid, const io::Volume& source, const RunConfig& run);

// An image on the slice grid in [-1, 1] by its own intensity window, fitted as ingest fits each
// training subject's (data.clip_low/clip_high of the run); `window` receives it for the way back.
std::vector<float> image_on_grid(const SliceGrid& grid, const io::Volume& image, const RunConfig& run,
                                 IntensityWindow* window);
// [-1, 1] back to intensities of a window (the checkpoint's first training subject's by default).
float to_intensity(float x, const IntensityWindow& window);
IntensityWindow checkpoint_window(const CheckpointInfo& info);

}  // namespace medsynth::pipeline
