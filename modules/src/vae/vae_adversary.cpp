// The VAE-GAN part of family "vae" (Larsen et al. 2016): a conditional multi-scale PatchGAN on
// (condition, image) judges reconstructions against the real slices; the VAE's loss gains its
// adversarial term (adv_weight) and the distance between the discriminator's features of the
// reconstruction and of the real slice (perceptual_weight), Larsen's learned similarity, which
// sharpens what an L1 loss alone leaves blurry.
#include <cmath>

#include "medsynth/modules/nn/patchgan.h"
#include "medsynth/modules/train_util.h"
#include "medsynth/modules/vae/vae_model.h"

namespace medsynth::modules {

struct VaeModel::Adversary {
  nn::MultiScalePatchGAN disc{nullptr};
  std::unique_ptr<torch::optim::AdamW> optimizer;
  torch::Tensor d_input(const torch::Tensor& image, const torch::Tensor& cond) const {
    return cond.defined() ? torch::cat({cond, image}, 1) : image;
  }
};

void VaeModel::init_adversary() {
  if (config_.adv_weight <= 0) return;
  nn::check_gan_loss(config_.gan_loss);
  const int scales = config_.disc_scales > 0 ? config_.disc_scales : 1;
  const int need = nn::MultiScalePatchGANImpl::min_input_size(scales, config_.disc_layers);
  if (config_.image_size < need) {
    throw Error("model.adv_weight: a " + std::to_string(scales) + "-scale PatchGAN of " +
                std::to_string(config_.disc_layers) + " layers needs slices of at least " + std::to_string(need) +
                " pixels (data.grid is " + std::to_string(config_.image_size) + "); lower model.disc_layers",
                ExitCode::kUsage);
  }
  const int cond = spatial_condition_channels(config_);
  adversary_ = std::make_shared<Adversary>();
  adversary_->disc = nn::MultiScalePatchGAN(scales, config_.image_channels + cond, config_.disc_channels, config_.disc_layers);
  adversary_->disc->to(device_);
}

void VaeModel::configure_adversary() {
  if (!adversary_) return;
  // beta1 0.5 for the discriminator, as GAN training customarily uses (Radford et al. 2016).
  adversary_->optimizer = std::make_unique<torch::optim::AdamW>(
      adversary_->disc->parameters(), torch::optim::AdamWOptions(optim_.lr).betas({0.5, optim_.beta2}).weight_decay(0));
}

void VaeModel::adversary_learning_rate(double lr) {
  if (!adversary_ || !adversary_->optimizer) return;
  modules::set_learning_rate(*adversary_->optimizer, lr);
}

torch::Tensor VaeModel::adversarial_generator_loss(const torch::Tensor& real, const torch::Tensor& fake,
                                                   const torch::Tensor& cond) {
  if (!adversary_) return torch::zeros({}, real.options());
  auto& a = *adversary_;
  const auto fake_f = a.disc->forward(a.d_input(fake, cond));
  auto loss = config_.adv_weight * nn::generator_loss(config_.gan_loss, fake_f);
  if (config_.perceptual_weight > 0) {
    const auto real_f = a.disc->forward(a.d_input(real, cond));
    loss = loss + config_.perceptual_weight * nn::feature_matching_loss(real_f, fake_f);
  }
  return loss;
}

void VaeModel::adversary_step(const torch::Tensor& real, const torch::Tensor& fake, const torch::Tensor& cond) {
  if (!adversary_) return;
  auto& a = *adversary_;
  a.optimizer->zero_grad();  // also drops what the VAE's loss left on the discriminator
  auto loss = nn::discriminator_loss(config_.gan_loss, a.disc->forward(a.d_input(real, cond)),
                                     a.disc->forward(a.d_input(fake.detach(), cond)));
  double value = loss.item<double>();
  if (loss_hook) value = loss_hook(value);  // every rank decides alike
  if (!std::isfinite(value)) {
    throw Error("VAE-GAN: the discriminator's loss became " + std::to_string(value) +
                "; lower train.lr or model.adv_weight (the last checkpoint is intact)", ExitCode::kRuntime);
  }
  loss.backward();
  apply_gradient_hook(*this, {a.disc.get()});
  if (optim_.grad_clip > 0) torch::nn::utils::clip_grad_norm_(a.disc->parameters(), optim_.grad_clip);
  a.optimizer->step();
}

void VaeModel::save_adversary(torch::serialize::OutputArchive& archive) {
  if (!adversary_) return;
  save_parameters(archive, "discriminator", *adversary_->disc);
  save_optimizer(archive, "discriminator_optimizer", adversary_->optimizer.get());
}

void VaeModel::load_adversary(torch::serialize::InputArchive& archive) {
  if (!adversary_) return;
  load_parameters(archive, "discriminator", *adversary_->disc);
  load_optimizer(archive, "discriminator_optimizer", adversary_->optimizer.get());
}

std::vector<torch::Tensor> VaeModel::adversary_weights() {
  return adversary_ ? adversary_->disc->parameters() : std::vector<torch::Tensor>{};
}

}  // namespace medsynth::modules
