#pragma once
// Hyper-parameters of a generative model: one struct, passed explicitly, defaults here only
// (docs/config.md lists them; the pipeline's config maps INI keys onto these fields).
#include <cstdint>
#include <string>
#include <vector>

namespace medsynth::modules {

struct ModelConfig {
  std::string family = "ddpm";
  int image_size = 64;               // square training slices or patches, image_size x image_size
  int image_channels = 1;
  std::vector<int> channels{32, 64, 128};  // U-Net width per level
  int res_blocks = 2;                // ResBlocks per level
  int stem = 1;                      // U-Net input folds stem x stem pixels into channels (2: 4x cheaper)
  int attention_levels = 1;          // self-attention on the last N (lowest-resolution) levels
  int groups = 8;                    // GroupNorm groups
  double dropout = 0.0;
  std::string precision = "fp32";    // U-Net arithmetic: fp32 | bf16 (autocast) | auto (nn/precision.h)

  // Conditions the model understands; a batch carrying anything else is refused.
  int label_classes = 0;             // > 0: a label map with this many classes (one-hot)
  std::string label_mode = "concat"; // concat | spade
  bool source_image = false;         // an image of another contrast / a sketch, by concatenation
  int num_classes = 0;               // > 0: a class / attribute id, by embedding
  bool slice_position = false;       // normalised slice position in [0, 1], by embedding
  double condition_dropout = 0.1;    // classifier-free guidance: P(condition dropped) in training
  int context = 0;                   // 2.5-D: the label map / source carry slices z-k .. z+k
  bool coordinates = false;          // two input channels: each pixel's in-plane position (patches)
  // Acquisition attributes (ddpm, ldm): the names of model.acquisition ("tr,te,ti,flip,field"),
  // the layout and normalisation the trainer fitted to the training scans (the pipeline's
  // AcquisitionEncoding text, kept so that sampling encodes a prompt the same way), and the width
  // of the vector it gives: width values and width masks, embedded like the slice position.
  std::string acquisition;
  std::string acquisition_encoding;
  int acquisition_width = 0;

  // Diffusion (ddpm, and ldm in latent space).
  std::string parametrization = "v"; // eps | v | flow (rectified flow, velocity noise - image)
  std::string predict = "target";    // target (eps, v or velocity itself) | image (x0) | edm (preconditioned)
  std::string time_sampling = "uniform";  // training times: uniform | logit_normal
  std::string schedule = "cosine";   // linear | cosine
  int timesteps = 1000;

  // VAE (family vae, and the autoencoder under ldm). The encoder halves the resolution at every
  // level but the last: latents are latent_channels x image_size / 2^(levels-1) squared.
  int latent_channels = 4;
  double kl_weight = 1e-4;           // beta of the KL term
  int kl_warmup = 200;               // steps over which the KL weight rises linearly from 0 to beta
  double adv_weight = 0.0;           // VAE-GAN: weight of the PatchGAN adversarial term (0: off)
  double perceptual_weight = 0.0;    // VAE-GAN: distance in the discriminator's features (Larsen 2016)

  // GAN (family gan).
  std::string generator = "auto";    // pix2pix | spade | auto (spade with a label map, else pix2pix)
  std::string gan_loss = "lsgan";    // lsgan | hinge
  double l1_weight = 100.0;          // L1 to the target image (pix2pix: 100)
  double feature_matching = 10.0;    // discriminator feature-matching weight (SPADE: 10; 0: off)
  int disc_scales = 0;               // PatchGAN scales (0: 1 for pix2pix, 2 for spade)
  int disc_channels = 64;            // width of the first discriminator layer
  int disc_layers = 3;               // strided layers: 3 gives the 70x70 PatchGAN

  // Latent diffusion (family ldm): the trained vae checkpoint whose latents it models. Used when
  // training starts; the ldm checkpoint then carries the autoencoder's weights itself.
  std::string autoencoder;
};

// Slices of the label map / source a condition carries: 2 * context + 1.
inline int context_slices(const ModelConfig& c) { return 2 * c.context + 1; }

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
