#pragma once
// The training loop: AdamW with warm-up then cosine decay, gradient clipping, EMA, fixed seeds,
// periodic atomic checkpoints, resume, a CSV loss log, and a hard stop on a non-finite loss.
#include <cstdint>
#include <string>

#include "medsynth/modules/generative_model.h"
#include "medsynth/pipeline/config.h"
#include "medsynth/pipeline/slice_dataset.h"

namespace medsynth::pipeline {

struct TrainResult {
  std::string checkpoint;  // the last checkpoint written
  std::int64_t steps = 0;  // steps done when training stopped
  double last_loss = 0;
  double first_loss = 0;   // mean loss of the first logged interval (or step)
  double seconds = 0;
};

// Learning rate at `step` (0-based): linear warm-up to `lr`, then cosine decay to 0 at `steps`.
double learning_rate(double lr, int warmup, int steps, std::int64_t step);

// Top-left corner of a training patch in the slice canvas.
struct PatchOffset {
  int x = 0, y = 0;
};

// Assembles the batch of slices `indices` on `device`: labels one-hot, with model.context
// neighbouring slices on each side (slice-major channels); cropped to model.image_size patches at
// `patches` (one per slice; empty: whole slices); with model.coordinates, the pixels' positions.
modules::Batch make_batch(const SliceDataset& data, const std::vector<std::size_t>& indices,
                          const modules::ModelConfig& model, torch::Device device,
                          const std::vector<PatchOffset>& patches = {});

// The most memory make_batch holds at once for `slices` slices of width x height (the images, the
// label ids with their one-hot and float copies, the source, the coordinates), in bytes; saturates
// instead of overflowing. The trainer checks it with require_memory before the first batch.
std::uint64_t batch_bytes(const modules::ModelConfig& model, std::int64_t slices, int width, int height);

// Coordinate channels [2, height, width] (x, y) of the pixels from (x0, y0) in a canvas of
// canvas_width x canvas_height; `scale` from coordinate_scale(). Training and sampling share it.
double coordinate_scale(bool native, double pixel, int canvas_width);
torch::Tensor pixel_coordinates(int canvas_width, int canvas_height, int x0, int y0, int width, int height, double scale);

// A checkpoint named by config key `key`: the file, or the newest checkpoint of a run folder
// (`medsynth train`'s or `medsynth run`'s); errors name the key and say to train the `what` first.
std::string resolve_checkpoint(const std::string& path, const std::string& key, const std::string& what);
// model.autoencoder of an ldm: a checkpoint, or a run folder whose newest checkpoint is taken.
std::string resolve_autoencoder(const std::string& path);

// Trains per `config` into config.train.out. With resume, continues from the newest checkpoint
// there (refusing one of another model, config or dataset); without, refuses a folder that
// already holds checkpoints. Launched as several ranks it joins them (distributed.h), or uses
// `group` when given (the stage runner's, which joined them before its first stage).
class DataParallel;
TrainResult train(const RunConfig& config, bool resume, DataParallel* group = nullptr);

}  // namespace medsynth::pipeline
