#pragma once
// The downstream segmenter of `medsynth utility`: the project's 2-D U-Net (nn/unet.h, no time
// input: t = 0) mapping an image slice to C class logits, trained with cross-entropy + soft Dice.
// It implements GenerativeModel's training half (optimiser, EMA, save/load, weights) so the
// pipeline's sealed checkpoint writer and resume logic take it as they take the generators;
// sample() is refused (a segmenter predicts, it does not sample).
#include <torch/torch.h>

#include <memory>

#include "medsynth/modules/generative_model.h"
#include "medsynth/modules/nn/unet.h"
#include "medsynth/modules/trained_net.h"

namespace medsynth::modules {

// Mean over the batch of cross-entropy + (1 - soft Dice averaged over the classes present in
// the batch's targets or predictions). logits [B, C, H, W], target [B, H, W] int64 class ids.
torch::Tensor segmentation_loss(const torch::Tensor& logits, const torch::Tensor& target);

class SegmenterModel : public GenerativeModel {
 public:
  // config.label_classes = the number of output classes C; config.channels etc. size the U-Net.
  SegmenterModel(const ModelConfig& config, torch::Device device);
  std::string family() const override { return "segmenter"; }
  const ModelConfig& config() const override { return config_; }
  torch::Device device() const override { return device_; }

  void configure_training(const OptimConfig& optim) override;
  void set_learning_rate(double lr) override;
  // batch.image [B, 1, H, W] in [-1, 1]; batch.labels [B, C, H, W] one-hot target.
  StepStats train_step(const Batch& batch, std::uint64_t seed) override;
  torch::Tensor sample(const Condition& condition, const SampleOptions& options) override;

  // Class logits [B, C, H, W] of images [B, 1, H, W] by the EMA weights, without gradients.
  torch::Tensor predict(const torch::Tensor& images);

  void save(torch::serialize::OutputArchive& archive) override;
  void load(torch::serialize::InputArchive& archive) override;
  std::vector<torch::Tensor> weights() override { return trained_.parameters(); }
  std::int64_t parameter_count() override;

 private:
  torch::Tensor logits(nn::UNet& net, const torch::Tensor& images);

  ModelConfig config_;
  torch::Device device_;
  nn::UNet net_{nullptr}, ema_{nullptr};
  TrainedNet trained_;  // net_ + ema_ + AdamW
};

}  // namespace medsynth::modules
