#pragma once
// Discriminators and adversarial losses shared by the gan family and VAE-GAN training:
// the pix2pix PatchGAN (Isola et al. 2017), its multi-scale form (pix2pixHD, Wang et al. 2018;
// SPADE, Park et al. 2019), LSGAN (Mao et al. 2017) and hinge (Lim & Ye 2017) losses, and the
// pix2pixHD feature-matching loss. Submodule names are checkpoint keys: keep them stable.
#include <torch/torch.h>

#include <string>
#include <vector>

namespace medsynth::modules::nn {

// What a PatchGAN returns: the output of every layer (after its activation), the last element
// being the logits map [B, 1, h, w] (one real/fake score per receptive-field patch).
using PatchFeatures = std::vector<torch::Tensor>;
// One PatchFeatures per scale, full resolution first.
using MultiScaleFeatures = std::vector<PatchFeatures>;

// The pix2pix PatchGAN: C(ch)-C(2ch)-C(4ch)-C(8ch)... (widths capped at 8ch), 4x4 convolutions,
// the first `layers` with stride 2, then one with stride 1 and a 1-channel output convolution,
// LeakyReLU 0.2, InstanceNorm on every layer but the first. layers = 3 is the 70x70 PatchGAN.
// InstanceNorm's statistics span the whole map, so strictly every output sees every input;
// instance_norm = false leaves the bare convolution stack (whose support is the receptive field).
struct PatchGANImpl : torch::nn::Module {
  PatchGANImpl(int in_channels, int channels = 64, int layers = 3, bool instance_norm = true);
  PatchFeatures forward(const torch::Tensor& x);
  // The side of the input patch each output pixel sees: 70 for 3 layers, 34 for 2, 142 for 4.
  static int receptive_field(int layers);
  // The smallest input side that leaves an output map (and a normalised map of more than one
  // pixel): 3 * 2^layers.
  static int min_input_size(int layers);

  std::vector<torch::nn::Conv2d> convs;
  std::vector<torch::nn::InstanceNorm2d> norms;  // norms[i] follows convs[i + 1]; empty without norm
  int layers;
};
TORCH_MODULE(PatchGAN);

// `scales` PatchGANs of the same shape on the input at 1, 1/2, 1/4, ... resolution (3x3 average
// pooling with stride 2, padding not counted, as in pix2pixHD).
struct MultiScalePatchGANImpl : torch::nn::Module {
  MultiScalePatchGANImpl(int scales, int in_channels, int channels = 64, int layers = 3);
  MultiScaleFeatures forward(const torch::Tensor& x);
  // The smallest input side every scale can take: min_input_size(layers) * 2^(scales - 1).
  static int min_input_size(int scales, int layers);

  std::vector<PatchGAN> discriminators;
};
TORCH_MODULE(MultiScalePatchGAN);

// Adversarial losses, averaged over scales. `loss` is "lsgan" (least squares to 1 and 0) or
// "hinge"; anything else throws. The discriminator loss is the mean of its real and fake terms
// (pix2pix halves the discriminator's objective).
torch::Tensor discriminator_loss(const std::string& loss, const MultiScaleFeatures& real, const MultiScaleFeatures& fake);
torch::Tensor generator_loss(const std::string& loss, const MultiScaleFeatures& fake);
// pix2pixHD feature matching: L1 between the fake and (detached) real intermediate features,
// averaged over the layers (logits excluded) and the scales.
torch::Tensor feature_matching_loss(const MultiScaleFeatures& real, const MultiScaleFeatures& fake);
// Throws a usage error for anything but lsgan and hinge (for config checks at construction).
void check_gan_loss(const std::string& loss);

}  // namespace medsynth::modules::nn
