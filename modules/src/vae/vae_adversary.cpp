// The VAE-GAN part of family "vae" (Larsen et al. 2016).
#include "medsynth/modules/vae/vae_model.h"

namespace medsynth::modules {

struct VaeModel::Adversary {};

void VaeModel::init_adversary() {
  if (config_.adv_weight > 0) throw Error("model.adv_weight > 0: the VAE-GAN discriminator is not built yet", ExitCode::kUsage);
}
void VaeModel::configure_adversary() {}
void VaeModel::adversary_learning_rate(double) {}
torch::Tensor VaeModel::adversarial_generator_loss(const torch::Tensor& real, const torch::Tensor&, const torch::Tensor&) {
  return torch::zeros({}, real.options());
}
void VaeModel::adversary_step(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&) {}
void VaeModel::save_adversary(torch::serialize::OutputArchive&) {}
void VaeModel::load_adversary(torch::serialize::InputArchive&) {}
std::vector<torch::Tensor> VaeModel::adversary_weights() { return {}; }

}  // namespace medsynth::modules
