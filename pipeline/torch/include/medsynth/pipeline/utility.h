#pragma once
// Utility of synthetic data (`medsynth utility`, the runner's [utility] stage): a segmenter
// (modules/seg) is trained under one budget (utility.steps, batch, seed) on real training slices,
// on synthetic pairs only (the generator's images from the training label maps and from smooth
// random elastic deformations of them), on both, and on fractions of the real slices with and
// without their synthetic pairs; each is scored by Dice on the held-out real slices with their
// real labels (validation/segmentation_scores.h). Needs LibTorch. docs/metrics.md.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "medsynth/modules/generative_model.h"
#include "medsynth/pipeline/config.h"

namespace medsynth::pipeline {

// Slices for the segmenter: images [N, 1, H, W] in [-1, 1], label ids [N, H, W] (int64).
struct SegmentationSet {
  torch::Tensor images, labels;
  std::int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

struct SegmenterTraining {
  std::string out;                 // checkpoints/ and loss.csv go here
  modules::ModelConfig model;      // label_classes = classes, image_size = slice size
  modules::OptimConfig optim;
  int steps = 300, batch = 16, seed = 1, warmup = 20, checkpoint_every = 100, keep_checkpoints = 2;
  std::string data_fingerprint;    // of the training set: a resumed run refuses another
  std::string run_config;          // INI text stored in the checkpoints
  std::string device = "cpu";
  bool resume = false;             // continue from the newest intact checkpoint (none: start)
  bool progress = true;
  std::string label = "segmenter";  // the progress line's name
};

// Trains (or resumes, or, when the newest checkpoint is of the last step, just loads) a segmenter
// on `data`; batches of step s are drawn from (seed, s) only, so a resumed run ends where an
// uninterrupted one does. Checkpoints are the generators' sealed ones (checkpoint.h).
// Returns the model (EMA weights predict) and fills *last_checkpoint.
std::unique_ptr<modules::GenerativeModel> train_segmenter(const SegmentationSet& data, const SegmenterTraining& run,
                                                          std::string* last_checkpoint);

// A smooth random displacement field [2, H, W] in pixels (x, y): Gaussian noise smoothed by a
// Gaussian of `smoothness` pixels and scaled to an RMS length of `amplitude` pixels.
torch::Tensor elastic_field(int height, int width, double amplitude, double smoothness, std::uint64_t seed);
// Every channel of one-hot maps [B, K, H, W] moved by fields [B, 2, H, W] (nearest neighbour,
// border values outside), so a map stays one-hot and its context slices move together.
torch::Tensor deform_labels(const torch::Tensor& onehot, const torch::Tensor& fields);

// "0.1,0.25,1" -> {0.1, 0.25, 1}; each in (0, 1] (ConfigError naming the key otherwise).
std::vector<double> parse_fractions(const std::string& text);

struct UtilityResult {
  std::string report;   // <out>/report.json
  std::string html;     // <out>/report.html
  nlohmann::json figures;
};

// Runs every regime into config.utility.out (or <train.out>/utility) and writes report.json,
// report.html (with the scarcity curve as inline SVG) and the test slices' reference and
// predicted label maps (predictions/*.nii.gz, slices stacked along z). With resume, finished
// regimes are loaded and unfinished ones continue.
// `cache_root`: the slice cache's root when data.cache is empty ("" = <train.out>/cache).
UtilityResult run_utility(const RunConfig& config, bool resume, const std::string& cache_root = "");

// The self-contained HTML section (inline SVG, no script) of a report.json's figures.
std::string utility_html_section(const nlohmann::json& figures);

}  // namespace medsynth::pipeline
