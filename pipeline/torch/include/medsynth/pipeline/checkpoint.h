#pragma once
// Checkpoints: model + EMA + optimiser (through the model), step, configs, data fingerprint and
// label table, written atomically (temporary file, fsync, rename) and sealed with a checksum of
// their content (the zip comment "medsynth-xxh3:..."), checked before every load. Needs LibTorch.
#include <memory>
#include <string>
#include <vector>

#include "medsynth/modules/generative_model.h"
#include "medsynth/pipeline/config.h"

namespace medsynth::pipeline {

struct CheckpointInfo {
  std::string family;
  modules::ModelConfig model;
  std::string run_config;        // INI text of the run
  std::string data_fingerprint;
  std::vector<std::int32_t> label_values;  // label id → label value of the training label maps
  float window_lo = 0, window_hi = 1;      // intensity window of the training images
  std::int64_t step = 0;
  int world_size = 1;                      // data-parallel ranks that trained it
  // In the training data, label 0 only ever covered empty image (the intensity minimum): a
  // sampler may leave such pixels empty, far from any tissue, without the network.
  bool empty_background = false;
  double pixel = 0;  // data.grid = native: the training slices' in-plane pixel in mm (0: not native)
};

// Writes <path> atomically. The model's save() provides weights, EMA and optimiser state.
void save_checkpoint(const std::string& path, modules::GenerativeModel& model, const CheckpointInfo& info);

// Reads only the metadata (refuses a file that is not a medsynth checkpoint, naming it).
CheckpointInfo read_checkpoint_info(const std::string& path);

// Loads weights (and optimiser state when the model is configured for training) into `model`,
// after checking that family and model config match.
void load_checkpoint(const std::string& path, modules::GenerativeModel& model);

// Creates the model a checkpoint holds and loads it (for sampling).
std::unique_ptr<modules::GenerativeModel> model_from_checkpoint(const std::string& path, const std::string& device,
                                                                CheckpointInfo* info);

// Checkpoints in a folder (ckpt-<step>.pt), oldest first.
std::vector<std::string> list_checkpoints(const std::string& dir);

// The newest of `checkpoints` (oldest first) that reads and matches its content checksum. Each
// newer one that is damaged, truncated or unreadable gets a warning naming it and, with
// `set_aside`, is renamed to <name>.damaged. Throws (io::Error on the folder) when none is intact.
std::string newest_intact_checkpoint(const std::vector<std::string>& checkpoints, bool set_aside);

}  // namespace medsynth::pipeline
