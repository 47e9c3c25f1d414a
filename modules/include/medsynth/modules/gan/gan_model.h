#pragma once
// Family "gan": conditional GANs for image-to-image synthesis.
// - generator "pix2pix" (Isola et al. 2017): a U-Net of 4x4 strided convolutions with skips from
//   the condition (source image and/or one-hot label map, concatenated) to the image;
// - generator "spade" (Park et al. 2019, GauGAN): SPADE ResBlocks that upsample from the label map
//   downsampled, the condition modulating every block;
// both trained against a conditional (multi-scale) PatchGAN with LSGAN or hinge loss, an L1 term
// to the target and pix2pixHD feature matching. Sampling is one forward pass of the EMA generator;
// it is a deterministic function of the condition (no latent: it cannot encode or interpolate).
#include <torch/torch.h>

#include <memory>

#include "medsynth/modules/generative_model.h"
#include "medsynth/modules/nn/blocks.h"
#include "medsynth/modules/nn/patchgan.h"
#include "medsynth/modules/trained_net.h"

namespace medsynth::modules {

namespace gan {

// The pix2pix U-Net: the encoder halves the resolution with 4x4 stride-2 convolutions down to
// 2x2 (or an odd side), widths from model.channels (the last repeated); the decoder mirrors it
// with transposed convolutions and skip connections; dropout on the three innermost decoder
// levels (the "noise" of pix2pix, active in training only here); tanh output.
struct Pix2PixUNetImpl : torch::nn::Module {
  Pix2PixUNetImpl(const ModelConfig& config, int condition_channels);
  torch::Tensor forward(const torch::Tensor& condition);

  std::vector<torch::nn::Conv2d> down;
  std::vector<torch::nn::ConvTranspose2d> up;
  std::vector<torch::nn::InstanceNorm2d> down_norm, up_norm;  // nullptr where a level has none
  double dropout;
};
TORCH_MODULE(Pix2PixUNet);

// The SPADE ResBlock (Park et al. 2019, fig. 4): SPADE, LeakyReLU 0.2, 3x3 conv, twice, and a
// learned 1x1 shortcut (after its own SPADE) when the width changes.
struct SpadeResBlockImpl : torch::nn::Module {
  SpadeResBlockImpl(int in_channels, int out_channels, int condition_channels, int groups, int hidden);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& condition);

  nn::Spade norm0{nullptr}, norm1{nullptr}, norm_skip{nullptr};
  torch::nn::Conv2d conv0{nullptr}, conv1{nullptr}, skip{nullptr};
};
TORCH_MODULE(SpadeResBlock);

// The SPADE generator without its image encoder: the condition map downsampled to
// image_size / 2^levels (levels = model.channels.size()) and a 3x3 convolution start it; a
// SpadeResBlock at that size, then one upsampling (nearest, x2) and SpadeResBlock per level,
// widths from model.channels read from the last to the first; LeakyReLU, 3x3 conv, tanh.
struct SpadeGeneratorImpl : torch::nn::Module {
  SpadeGeneratorImpl(const ModelConfig& config, int condition_channels);
  torch::Tensor forward(const torch::Tensor& condition);

  torch::nn::Conv2d head{nullptr}, out{nullptr};
  SpadeResBlock start{nullptr};
  std::vector<SpadeResBlock> blocks;
  int levels;  // the condition map starts at 1 / 2^levels of the slice
};
TORCH_MODULE(SpadeGenerator);

}  // namespace gan

class GanModel : public GenerativeModel {
 public:
  GanModel(const ModelConfig& config, torch::Device device);

  std::string family() const override { return "gan"; }
  const ModelConfig& config() const override { return config_; }
  torch::Device device() const override { return device_; }
  // "pix2pix" or "spade": model.generator with "auto" resolved.
  const std::string& generator_kind() const { return generator_kind_; }
  int discriminator_scales() const { return scales_; }

  void configure_training(const OptimConfig& optim) override;
  void set_learning_rate(double lr) override;
  // One discriminator and one generator update from the same forward pass (pix2pixHD's order:
  // both losses against the current discriminator, then both steps), so that a non-finite loss
  // leaves both networks untouched. StepStats: the generator's loss and gradient norm.
  StepStats train_step(const Batch& batch, std::uint64_t seed) override;
  // The parts of the last train_step's generator loss (adversarial, L1, feature matching) and the
  // discriminator loss: for tests and logs.
  struct Losses {
    double adversarial = 0, l1 = 0, feature_matching = 0, discriminator = 0;
  };
  const Losses& last_losses() const { return last_; }

  // One forward pass of the EMA generator (use_ema = false: the training generator, in eval
  // mode); options.seeds are not used: the output is a function of the condition.
  torch::Tensor sample(const Condition& condition, const SampleOptions& options) override;
  torch::Tensor generate(const Condition& condition, bool use_ema = true);
  // The conditional discriminator's output on (condition, image), for tests.
  nn::MultiScaleFeatures discriminate(const Condition& condition, const torch::Tensor& image);

  void save(torch::serialize::OutputArchive& archive) override;
  void load(torch::serialize::InputArchive& archive) override;
  // Generator then discriminator training weights.
  std::vector<torch::Tensor> weights() override;
  std::int64_t parameter_count() override;  // generator + discriminator

 private:
  void check_condition(const Condition& c) const;
  torch::Tensor condition_map(const Condition& c) const;  // spatial_condition() on the device
  torch::nn::Module& generator(bool ema);
  torch::Tensor run_generator(bool ema, const torch::Tensor& condition);

  ModelConfig config_;
  torch::Device device_;
  std::string generator_kind_;
  int scales_ = 1;
  int condition_channels_ = 0;
  std::int64_t multiple_ = 1;  // the generator's slices are padded to multiples of this (any size samples)
  gan::Pix2PixUNet unet_{nullptr}, unet_ema_{nullptr};
  gan::SpadeGenerator spade_{nullptr}, spade_ema_{nullptr};
  nn::MultiScalePatchGAN disc_{nullptr};
  TrainedNet gen_, dis_;  // the generator with its EMA copy; the discriminator; their AdamW
  Losses last_;
};

}  // namespace medsynth::modules
