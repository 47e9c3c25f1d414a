#pragma once
// Family "ldm": latent diffusion (Rombach et al. 2022). A trained vae (model.autoencoder) maps
// slices to latents f times smaller per side; a ddpm learns those latents, scaled to unit
// variance, with the conditions average-pooled to the latent grid; sampling decodes the
// diffusion's latents with the vae's decoder, which sees the full-resolution condition again.
// Inpainting runs RePaint in latent space and then puts back every voxel outside the mask;
// interpolation inverts DDIM in latent space. The checkpoint carries the vae's weights, so
// sampling needs no other file.
#include <torch/torch.h>

#include <memory>

#include "medsynth/modules/diffusion/ddpm_model.h"
#include "medsynth/modules/generative_model.h"
#include "medsynth/modules/vae/vae_model.h"

namespace medsynth::modules {

class LdmModel : public GenerativeModel {
 public:
  // Without its autoencoder until set_autoencoder() (training: the pipeline builds the vae of
  // model.autoencoder from its checkpoint) or load() (a trained ldm's checkpoint carries its vae).
  LdmModel(const ModelConfig& config, torch::Device device);
  // Takes the trained vae whose latents this model diffuses; refuses another family, or a vae
  // trained on another grid or other conditions.
  void set_autoencoder(std::unique_ptr<GenerativeModel> vae) override;

  std::string family() const override { return "ldm"; }
  const ModelConfig& config() const override { return config_; }
  torch::Device device() const override { return device_; }

  void configure_training(const OptimConfig& optim) override;
  void set_learning_rate(double lr) override;
  StepStats train_step(const Batch& batch, std::uint64_t seed) override;

  torch::Tensor sample(const Condition& condition, const SampleOptions& options) override;
  torch::Tensor encode(const torch::Tensor& image, const Condition& condition, const SampleOptions& options) override;

  void save(torch::serialize::OutputArchive& archive) override;
  void load(torch::serialize::InputArchive& archive) override;
  std::vector<torch::Tensor> weights() override;
  std::int64_t parameter_count() override;

  double latent_scale() const { return scale_; }

 private:
  void attach(std::unique_ptr<VaeModel> vae);
  void need_autoencoder() const;
  Condition latent_condition(const Condition& c) const;  // pooled to the latent grid
  Condition vae_condition(const Condition& c) const;     // the parts the vae takes
  torch::Tensor to_latent(const torch::Tensor& image, const Condition& c, at::Generator* noise_from, const Batch* batch);

  ModelConfig config_;
  torch::Device device_;
  std::unique_ptr<VaeModel> vae_;
  std::unique_ptr<DdpmModel> diffusion_;
  std::unique_ptr<OptimConfig> pending_optim_;  // re-applied when load() brings another vae
  double scale_ = 0;  // latents x scale_ have unit variance (measured on the first batch)
  int factor_ = 1;    // image size / latent size
};

}  // namespace medsynth::modules
