#pragma once
// Hyper-parameters of a generative model: one struct, passed explicitly, defaults here only
// (docs/config.md lists them; the pipeline's config maps INI keys onto these fields).
#include <cstdint>
#include <string>
#include <vector>

namespace medsynth::modules {

struct ModelConfig {
  std::string family = "ddpm";
  int image_size = 64;               // square slices, image_size x image_size
  int image_channels = 1;
  std::vector<int> channels{32, 64, 128};  // U-Net width per level
  int res_blocks = 2;                // ResBlocks per level
  int attention_levels = 1;          // self-attention on the last N (lowest-resolution) levels
  int groups = 8;                    // GroupNorm groups
  double dropout = 0.0;

  // Conditions the model understands; a batch carrying anything else is refused.
  int label_classes = 0;             // > 0: a label map with this many classes (one-hot)
  std::string label_mode = "concat"; // concat | spade
  bool source_image = false;         // an image of another contrast / a sketch, by concatenation
  int num_classes = 0;               // > 0: a class / attribute id, by embedding
  bool slice_position = false;       // normalised slice position in [0, 1], by embedding
  double condition_dropout = 0.1;    // classifier-free guidance: P(condition dropped) in training

  // Diffusion.
  std::string parametrization = "v"; // eps | v
  std::string schedule = "cosine";   // linear | cosine
  int timesteps = 1000;
};

struct OptimConfig {
  double lr = 2e-4;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999;
  double grad_clip = 1.0;            // max global L2 norm; <= 0: off
  double ema_decay = 0.999;
};

}  // namespace medsynth::modules

namespace medsynth::modules {

// "key = value" lines, stored in checkpoints so that `sample` rebuilds the trained model.
std::string to_text(const ModelConfig& c);
ModelConfig model_config_from_text(const std::string& text);  // throws medsynth::Error

}  // namespace medsynth::modules
