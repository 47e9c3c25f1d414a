// The VAE-GAN part of family "vae" (Larsen et al. 2016): a conditional multi-scale PatchGAN on
// (condition, image) judges reconstructions against the real slices; the VAE's loss gains its
// adversarial term (adv_weight) and the distance between the discriminator's features of the
// reconstruction and of the real slice (perceptual_weight), Larsen's learned similarity, which
// sharpens what an L1 loss alone leaves blurry.
#include "medsynth/modules/nn/patchgan.h"
#include "medsynth/modules/train_util.h"
#include "medsynth/modules/trained_net.h"
#include "medsynth/modules/vae/vae_model.h"

namespace medsynth::modules {

struct VaeModel::Adversary {
  nn::MultiScalePatchGAN disc{nullptr};
  TrainedNet trained;  // disc + its AdamW (no EMA: sampling never uses it)
  torch::Tensor d_input(const torch::Tensor& image, const torch::Tensor& cond) const {
    return cond.defined() ? torch::cat({cond, image}, 1) : image;
  }
};

namespace {
const ArchiveKeys kDiscriminatorKeys{"discriminator", "", "", "discriminator_optimizer"};
}  // namespace

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
  adversary_->trained = TrainedNet(adversary_->disc.ptr(), nullptr);
}

void VaeModel::configure_adversary(const OptimConfig& optim) {
  // beta1 0.5 for the discriminator, as GAN training customarily uses (Radford et al. 2016); the
  // weight decay is train.weight_decay, as for the gan family's discriminator.
  if (adversary_) adversary_->trained.configure(optim, 0.5);
}

TrainedNet* VaeModel::adversary_net() { return adversary_ ? &adversary_->trained : nullptr; }

torch::Tensor VaeModel::adversarial_generator_loss(const torch::Tensor& real, const torch::Tensor& fake,
                                                   const torch::Tensor& cond) {
  if (!adversary_) return torch::zeros({}, real.options());
  auto& a = *adversary_;
  set_requires_grad(*a.disc, false);  // the VAE's loss reaches the VAE's weights only
  const auto fake_f = a.disc->forward(a.d_input(fake, cond));
  auto loss = config_.adv_weight * nn::generator_loss(config_.gan_loss, fake_f);
  if (config_.perceptual_weight > 0) {
    const auto real_f = a.disc->forward(a.d_input(real, cond));
    loss = loss + config_.perceptual_weight * nn::feature_matching_loss(real_f, fake_f);
  }
  set_requires_grad(*a.disc, true);
  return loss;
}

torch::Tensor VaeModel::discriminator_loss(const torch::Tensor& real, const torch::Tensor& fake, const torch::Tensor& cond) {
  auto& a = *adversary_;
  return nn::discriminator_loss(config_.gan_loss, a.disc->forward(a.d_input(real, cond)),
                                a.disc->forward(a.d_input(fake.detach(), cond)));
}

void VaeModel::save_adversary(torch::serialize::OutputArchive& archive) {
  if (adversary_) adversary_->trained.save(archive, kDiscriminatorKeys);
}

void VaeModel::load_adversary(torch::serialize::InputArchive& archive) {
  if (adversary_) adversary_->trained.load(archive, kDiscriminatorKeys);
}

std::vector<torch::Tensor> VaeModel::adversary_weights() {
  return adversary_ ? adversary_->trained.parameters() : std::vector<torch::Tensor>{};
}

}  // namespace medsynth::modules
