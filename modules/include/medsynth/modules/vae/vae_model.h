#pragma once
// Family "vae": a conditional variational autoencoder on slices (Kingma & Welling 2014; the
// conditional form of Sohn et al. 2015). The encoder q(z | x, c) sees the image with its label
// map / source image; the decoder p(x | z, c) gets the label map and source image through SPADE
// in every block (Park et al. 2019) and class / slice position through an embedding. Loss: L1
// reconstruction + beta x KL with a linear warm-up (beta-VAE, Higgins et al. 2017), and, for a
// VAE-GAN (Larsen et al. 2016), a PatchGAN adversarial term and a distance in the
// discriminator's features. It is also the autoencoder whose latents family "ldm" models.
#include <torch/torch.h>

#include <memory>
#include <utility>
#include <vector>

#include "medsynth/modules/generative_model.h"
#include "medsynth/modules/nn/blocks.h"
#include "medsynth/modules/trained_net.h"

namespace medsynth::modules {

namespace nn {

struct VaeNetImpl : torch::nn::Module {
  explicit VaeNetImpl(const ModelConfig& config);
  // [B, 2 * latent_channels, h, w]: mean and log-variance.
  torch::Tensor encode(const torch::Tensor& image, const torch::Tensor& cond_map, const torch::Tensor& embedding);
  torch::Tensor decode(const torch::Tensor& z, const torch::Tensor& cond_map, const torch::Tensor& embedding);
  torch::Tensor embedding(const Condition& c, std::int64_t batch, torch::Device device);

  int levels, res_blocks, embed_dim, cond_channels;
  bool has_classes, has_position;
  torch::nn::Conv2d enc_in{nullptr}, enc_out{nullptr}, dec_in{nullptr}, dec_out{nullptr};
  torch::nn::GroupNorm enc_norm{nullptr};
  AdaptiveNorm dec_norm{nullptr};
  std::vector<ResBlock> enc_blocks, dec_blocks;
  std::vector<Downsample> downs;
  std::vector<Upsample> ups;
  torch::nn::Embedding class_embed{nullptr};
  torch::nn::Linear pos1{nullptr}, pos2{nullptr};
};
TORCH_MODULE(VaeNet);

}  // namespace nn

class VaeModel : public GenerativeModel {
 public:
  VaeModel(const ModelConfig& config, torch::Device device);

  std::string family() const override { return "vae"; }
  const ModelConfig& config() const override { return config_; }
  torch::Device device() const override { return device_; }

  void configure_training(const OptimConfig& optim) override;
  void set_learning_rate(double lr) override;
  StepStats train_step(const Batch& batch, std::uint64_t seed) override;

  // Decodes z ~ N(0, I) drawn from each sample's seed, or options.initial, with the condition.
  torch::Tensor sample(const Condition& condition, const SampleOptions& options) override;
  // The posterior mean (EMA weights).
  torch::Tensor encode(const torch::Tensor& image, const Condition& condition, const SampleOptions& options) override;

  // For ldm: the posterior's mean and log-variance, and decoding, with the EMA weights.
  std::pair<torch::Tensor, torch::Tensor> posterior(const torch::Tensor& image, const Condition& condition);
  torch::Tensor decode(const torch::Tensor& z, const Condition& condition);
  // [latent_channels, h, w] of a training slice (model.image_size), and of the slice a
  // condition (or the options' size) asks for, rounded up to the factor.
  std::vector<std::int64_t> latent_shape() const;
  std::vector<std::int64_t> latent_shape(const Condition& c, const SampleOptions& o) const;
  std::int64_t factor() const;  // 2^(levels - 1): pixels per latent cell along each side

  void save(torch::serialize::OutputArchive& archive) override;
  void load(torch::serialize::InputArchive& archive) override;
  std::vector<torch::Tensor> weights() override;
  std::int64_t parameter_count() override;

 private:
  void check_condition(const Condition& c) const;
  torch::Tensor cond_map(const Condition& c, std::int64_t batch, std::int64_t height, std::int64_t width) const;

  ModelConfig config_;
  torch::Device device_;
  nn::VaeNet net_{nullptr}, ema_{nullptr};
  TrainedNet trained_;  // net_ + ema_ + AdamW; its update count is the KL warm-up's step

  // VAE-GAN (adv_weight > 0): a PatchGAN on (condition, image); vae_adversary.cpp.
  struct Adversary;
  std::shared_ptr<Adversary> adversary_;
  void init_adversary();
  void configure_adversary(const OptimConfig& optim);
  TrainedNet* adversary_net();  // nullptr without an adversary
  // The adversarial and discriminator-feature terms of the VAE's loss (0 without an adversary),
  // through a discriminator whose weights record no gradient.
  torch::Tensor adversarial_generator_loss(const torch::Tensor& real, const torch::Tensor& fake, const torch::Tensor& cond);
  // The discriminator's loss on the real slice and the (detached) reconstruction.
  torch::Tensor discriminator_loss(const torch::Tensor& real, const torch::Tensor& fake, const torch::Tensor& cond);
  void save_adversary(torch::serialize::OutputArchive& archive);
  void load_adversary(torch::serialize::InputArchive& archive);
  std::vector<torch::Tensor> adversary_weights();
};

}  // namespace medsynth::modules
