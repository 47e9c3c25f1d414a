#pragma once
// Family "ddpm": a conditional denoising diffusion model on slices (Ho et al. 2020) with ε-, v-
// (Salimans & Ho 2022) or flow (rectified flow) prediction and classifier-free guidance (Ho &
// Salimans 2022). The network is here; the noising is diffusion::Schedule and the samplers (DDPM,
// DDIM, Euler, Heun, RePaint, inversion) are diffusion/sampler.h. Fully convolutional: it trains on
// image_size patches and samples slices of any size (the condition's).
#include <torch/torch.h>

#include <memory>
#include <optional>

#include "medsynth/modules/diffusion/sampler.h"
#include "medsynth/modules/diffusion/schedule.h"
#include "medsynth/modules/generative_model.h"
#include "medsynth/modules/nn/unet.h"
#include "medsynth/modules/trained_net.h"

namespace medsynth::modules {

class DdpmModel : public GenerativeModel {
 public:
  DdpmModel(const ModelConfig& config, torch::Device device);

  std::string family() const override { return "ddpm"; }
  const ModelConfig& config() const override { return config_; }
  torch::Device device() const override { return device_; }

  void configure_training(const OptimConfig& optim) override;
  void set_learning_rate(double lr) override;
  StepStats train_step(const Batch& batch, std::uint64_t seed) override;

  torch::Tensor sample(const Condition& condition, const SampleOptions& options) override;
  // DDIM inversion (Song et al. 2021, sec. 4.3): the deterministic path from the image back to
  // noise, run with options.steps; sample() with options.initial and eta 0 walks it back.
  torch::Tensor encode(const torch::Tensor& image, const Condition& condition, const SampleOptions& options) override;

  // The network's raw output (ε or v) for x_t at timestep t, with guidance: exposed for tests
  // (guidance 0 must equal the unconditional prediction).
  torch::Tensor predict(const torch::Tensor& x, const torch::Tensor& t, const Condition& c, double guidance,
                        bool use_ema = true);

  void save(torch::serialize::OutputArchive& archive) override;
  void load(torch::serialize::InputArchive& archive) override;
  std::vector<torch::Tensor> weights() override;
  std::int64_t parameter_count() override;

 private:
  nn::UNetInput assemble(const torch::Tensor& x_t, const torch::Tensor& t, const Condition& c,
                         const torch::Tensor& present);
  void check_condition(const Condition& c) const;
  std::vector<std::int64_t> sample_shape(const Condition& c, const SampleOptions& o) const;
  diffusion::Denoiser denoiser(const Condition& c, double guidance);

  ModelConfig config_;
  torch::Device device_;
  nn::UNet net_{nullptr}, ema_{nullptr};
  TrainedNet trained_;  // net_ + ema_ + AdamW
  diffusion::Schedule schedule_;
};

}  // namespace medsynth::modules
