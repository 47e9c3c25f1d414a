#include "medsynth/modules/gan/gan_model.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "medsynth/modules/seed.h"
#include "medsynth/modules/train_util.h"
#include "medsynth/modules/trained_net.h"

namespace medsynth::modules {

namespace F = torch::nn::functional;

namespace gan {
namespace {

torch::Tensor lrelu(const torch::Tensor& x) { return F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(0.2)); }

// Halvings of the U-Net: down to 2x2, or to an odd side that cannot be halved again.
int unet_levels(int image_size) {
  int n = 0;
  for (int s = image_size; s % 2 == 0 && s / 2 >= 2; s /= 2) ++n;
  return n;
}

}  // namespace

Pix2PixUNetImpl::Pix2PixUNetImpl(const ModelConfig& c, int condition_channels) : dropout(c.dropout) {
  const int n = unet_levels(c.image_size);
  if (n < 1 || c.channels.empty()) {
    throw Error("gan/pix2pix: slices of " + std::to_string(c.image_size) + " pixels cannot be halved (data.grid must be even, "
                "at least 4) or model.channels is empty", ExitCode::kUsage);
  }
  auto width = [&](int i) { return c.channels[static_cast<std::size_t>(std::min<int>(i, static_cast<int>(c.channels.size()) - 1))]; };
  for (int i = 0; i < n; ++i) {
    const int in = i == 0 ? condition_channels : width(i - 1);
    down.push_back(register_module("down" + std::to_string(i),
                                   torch::nn::Conv2d(torch::nn::Conv2dOptions(in, width(i), 4).stride(2).padding(1))));
    // No norm on the outermost layer (Isola et al.) nor on the innermost, whose map may be 2x2.
    const bool norm = i > 0 && i + 1 < n;
    down_norm.push_back(norm ? register_module("down_norm" + std::to_string(i),
                                               torch::nn::InstanceNorm2d(torch::nn::InstanceNorm2dOptions(width(i)).affine(true)))
                             : torch::nn::InstanceNorm2d(nullptr));
  }
  for (int i = 0; i < n; ++i) {
    // Decoder level i maps to level i - 1's resolution; every level but the innermost also takes
    // its encoder's skip.
    const int in = i + 1 == n ? width(i) : 2 * width(i);
    const int out = i == 0 ? c.image_channels : width(i - 1);
    up.push_back(register_module("up" + std::to_string(i),
                                 torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(in, out, 4).stride(2).padding(1))));
    up_norm.push_back(i > 0 ? register_module("up_norm" + std::to_string(i),
                                              torch::nn::InstanceNorm2d(torch::nn::InstanceNorm2dOptions(out).affine(true)))
                            : torch::nn::InstanceNorm2d(nullptr));
  }
}

torch::Tensor Pix2PixUNetImpl::forward(const torch::Tensor& condition) {
  const int n = static_cast<int>(down.size());
  std::vector<torch::Tensor> skips;
  auto h = condition;
  for (int i = 0; i < n; ++i) {
    h = down[static_cast<std::size_t>(i)](i == 0 ? h : lrelu(h));
    if (down_norm[static_cast<std::size_t>(i)]) h = down_norm[static_cast<std::size_t>(i)](h);
    skips.push_back(h);
  }
  for (int i = n - 1; i >= 0; --i) {
    const auto k = static_cast<std::size_t>(i);
    if (i + 1 < n) h = torch::cat({h, skips[k]}, 1);
    h = up[k](torch::relu(h));
    if (i == 0) break;
    h = up_norm[k](h);
    // pix2pix's noise: dropout on the three innermost decoder levels (training only: sampling
    // stays a function of the condition).
    if (dropout > 0 && i >= n - 3) h = F::dropout(h, F::DropoutFuncOptions().p(dropout).training(is_training()));
  }
  return torch::tanh(h);
}

SpadeResBlockImpl::SpadeResBlockImpl(int in, int out, int condition_channels, int groups, int hidden) {
  const int mid = std::min(in, out);
  norm0 = register_module("norm0", nn::Spade(in, condition_channels, groups, hidden));
  conv0 = register_module("conv0", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, mid, 3).padding(1)));
  norm1 = register_module("norm1", nn::Spade(mid, condition_channels, groups, hidden));
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(mid, out, 3).padding(1)));
  if (in != out) {
    norm_skip = register_module("norm_skip", nn::Spade(in, condition_channels, groups, hidden));
    skip = register_module("skip", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).bias(false)));
  }
}

torch::Tensor SpadeResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& condition) {
  auto dx = conv0(lrelu(norm0(x, condition)));
  dx = conv1(lrelu(norm1(dx, condition)));
  return (skip ? skip(norm_skip(x, condition)) : x) + dx;
}

SpadeGeneratorImpl::SpadeGeneratorImpl(const ModelConfig& c, int condition_channels) {
  const int n = static_cast<int>(c.channels.size());
  if (n < 1 || c.image_size % (1 << n) != 0) {
    throw Error("gan/spade: model.image_size " + std::to_string(c.image_size) + " must be divisible by 2^levels = " +
                std::to_string(1 << n) + " (levels = the number of model.channels)", ExitCode::kUsage);
  }
  for (int ch : c.channels) {
    if (ch % c.groups != 0) {
      throw Error("model.channels: " + std::to_string(ch) + " is not a multiple of model.groups (" +
                  std::to_string(c.groups) + ")", ExitCode::kUsage);
    }
  }
  levels = n;
  // SPADE's hidden width (128 in Park et al.), kept at most 64 for CPU budgets.
  const int hidden = std::min(64, *std::max_element(c.channels.begin(), c.channels.end()));
  int ch = c.channels.back();
  head = register_module("head", torch::nn::Conv2d(torch::nn::Conv2dOptions(condition_channels, ch, 3).padding(1)));
  start = register_module("start", SpadeResBlock(ch, ch, condition_channels, c.groups, hidden));
  for (int l = n - 1; l >= 0; --l) {
    const int w = c.channels[static_cast<std::size_t>(l)];
    blocks.push_back(register_module("block" + std::to_string(blocks.size()),
                                     SpadeResBlock(ch, w, condition_channels, c.groups, hidden)));
    ch = w;
  }
  out = register_module("out", torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, c.image_channels, 3).padding(1)));
}

torch::Tensor SpadeGeneratorImpl::forward(const torch::Tensor& condition) {
  // Park et al.'s generator without the VAE encoder starts from the downsampled segmentation map.
  auto x = F::interpolate(condition, F::InterpolateFuncOptions()
                                         .size(std::vector<int64_t>{condition.size(2) >> levels, condition.size(3) >> levels})
                                         .mode(torch::kNearest));
  auto h = start(head(x), condition);
  for (auto& b : blocks) {
    h = F::interpolate(h, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest));
    h = b(h, condition);
  }
  return torch::tanh(out(lrelu(h)));
}

}  // namespace gan

namespace {

// beta1 = 0.5 as in DCGAN (Radford et al. 2016), pix2pix and SPADE: with the trainer's 0.9 the
// momentum lags the moving discriminator and GAN training oscillates. The config has no beta1
// key, so this family sets it; beta2 and weight decay come from the config.
constexpr double kGanBeta1 = 0.5;

const ArchiveKeys kGeneratorKeys{"generator", "ema", "ema_updates", "optimizer_generator"};
const ArchiveKeys kDiscriminatorKeys{"discriminator", "", "", "optimizer_discriminator"};

}  // namespace

GanModel::GanModel(const ModelConfig& config, torch::Device device) : config_(config), device_(device) {
  nn::check_gan_loss(config_.gan_loss);
  if (config_.num_classes > 0 || config_.slice_position) {
    throw Error("the gan family takes a label map and/or a source image, not a class or a slice position "
                "(model.num_classes = 0, model.slice_position = false)", ExitCode::kUsage);
  }
  condition_channels_ = spatial_condition_channels(config_);  // with the coordinates, when patches have them
  if (config_.label_classes == 0 && !config_.source_image) {
    throw Error("the gan family needs a condition: a label map (data.labels = file or tissue) and/or a source "
                "image (model.source_image = true)", ExitCode::kUsage);
  }
  if (config_.generator == "auto") {
    generator_kind_ = config_.label_classes > 0 && !config_.source_image ? "spade" : "pix2pix";
  } else if (config_.generator == "pix2pix" || config_.generator == "spade") {
    generator_kind_ = config_.generator;
  } else {
    throw Error("model.generator '" + config_.generator + "' is not pix2pix, spade or auto", ExitCode::kUsage);
  }
  if (config_.l1_weight < 0 || config_.feature_matching < 0) {
    throw Error("model.l1_weight and model.feature_matching must not be negative", ExitCode::kUsage);
  }
  const int layers = config_.disc_layers;
  if (layers < 1) throw Error("model.disc_layers must be at least 1", ExitCode::kUsage);
  if (config_.image_size < nn::PatchGANImpl::min_input_size(layers)) {
    throw Error("model.disc_layers = " + std::to_string(layers) + " needs slices of at least " +
                std::to_string(nn::PatchGANImpl::min_input_size(layers)) + " pixels (data.grid is " +
                std::to_string(config_.image_size) + "): lower model.disc_layers", ExitCode::kUsage);
  }
  if (config_.disc_scales > 0) {
    scales_ = config_.disc_scales;
    const int need = nn::MultiScalePatchGANImpl::min_input_size(scales_, layers);
    if (config_.image_size < need) {
      throw Error("model.disc_scales = " + std::to_string(scales_) + " with model.disc_layers = " + std::to_string(layers) +
                  " needs slices of at least " + std::to_string(need) + " pixels (data.grid is " +
                  std::to_string(config_.image_size) + "): lower one of them", ExitCode::kUsage);
    }
  } else {
    // pix2pix: one discriminator; SPADE: two (pix2pixHD uses three at 2048x1024), as many of them
    // as the slice size leaves room for.
    scales_ = generator_kind_ == "spade" ? 2 : 1;
    while (scales_ > 1 && config_.image_size < nn::MultiScalePatchGANImpl::min_input_size(scales_, layers)) --scales_;
  }
  // Weights initialise from LibTorch's global generator: seed it so a config gives one model.
  torch::manual_seed(0);
  if (generator_kind_ == "spade") {
    if (config_.label_classes == 0) {
      throw Error("model.generator = spade needs a label map (data.labels = file or tissue)", ExitCode::kUsage);
    }
    spade_ = gan::SpadeGenerator(config_, condition_channels_);
    spade_ema_ = gan::SpadeGenerator(config_, condition_channels_);
  } else {
    unet_ = gan::Pix2PixUNet(config_, condition_channels_);
    unet_ema_ = gan::Pix2PixUNet(config_, condition_channels_);
  }
  multiple_ = std::int64_t{1} << (generator_kind_ == "spade" ? static_cast<int>(config_.channels.size())
                                                             : gan::unet_levels(config_.image_size));
  disc_ = nn::MultiScalePatchGAN(scales_, condition_channels_ + config_.image_channels, config_.disc_channels, layers);
  generator(false).to(device_);
  generator(true).to(device_);
  disc_->to(device_);
  if (spade_) {
    gen_ = TrainedNet(spade_.ptr(), spade_ema_.ptr());
  } else {
    gen_ = TrainedNet(unet_.ptr(), unet_ema_.ptr());
  }
  dis_ = TrainedNet(disc_.ptr(), nullptr);
}

torch::nn::Module& GanModel::generator(bool ema) {
  if (spade_) return ema ? *spade_ema_ : *spade_;
  return ema ? *unet_ema_ : *unet_;
}

torch::Tensor GanModel::run_generator(bool ema, const torch::Tensor& condition) {
  // Fully convolutional: a whole slice of any size is padded (edge values) to the generator's
  // multiple and the output cropped back (training patches are model.image_size: no padding).
  const auto H = condition.size(2), W = condition.size(3);
  const auto padded = nn::pad_to_multiple(condition, multiple_);
  auto x = spade_ ? (ema ? spade_ema_->forward(padded) : spade_->forward(padded))
                  : (ema ? unet_ema_->forward(padded) : unet_->forward(padded));
  return x.narrow(2, 0, H).narrow(3, 0, W);
}

void GanModel::configure_training(const OptimConfig& optim) {
  gen_.configure(optim, kGanBeta1);
  dis_.configure(optim, kGanBeta1);
}

void GanModel::set_learning_rate(double lr) {
  gen_.set_learning_rate(lr);
  dis_.set_learning_rate(lr);
}

void GanModel::check_condition(const Condition& c) const {
  auto refuse = [&](const std::string& what, const std::string& why) {
    throw Error("this gan model cannot take " + what + ": " + why);
  };
  const int k = context_slices(config_);
  if (c.labels.defined()) {
    if (config_.label_classes == 0) refuse("a label map", "it was trained without one");
    if (c.labels.size(1) != config_.label_classes * k) {
      refuse("a label map of " + std::to_string(c.labels.size(1)) + " channels",
             "it was trained with " + std::to_string(config_.label_classes) + " classes on " + std::to_string(k) +
                 " slice(s)");
    }
  }
  if (c.source.defined() && !config_.source_image) refuse("a source image", "it was trained without one");
  if (c.source.defined() && c.source.size(1) != k) {
    refuse("a source of " + std::to_string(c.source.size(1)) + " slice(s)", "it was trained with " + std::to_string(k));
  }
  if (c.coords.defined() != config_.coordinates) {
    refuse(config_.coordinates ? "a condition without pixel coordinates" : "pixel coordinates",
           config_.coordinates ? "it was trained on patches with them" : "it was trained without them");
  }
  if (c.class_id.defined()) refuse("a class", "the gan family has no class conditioning");
  if (c.position.defined()) refuse("a slice position", "the gan family has no slice-position conditioning");
  // A GAN maps a condition to an image: without the condition there is nothing to sample from.
  if (config_.label_classes > 0 && !c.labels.defined()) {
    throw Error("this gan model generates from a label map and needs one (sample --condition labels.nii.gz)");
  }
  if (config_.source_image && !c.source.defined()) {
    throw Error("this gan model translates a source image and needs one (sample --source image.nii.gz)");
  }
  for (const auto* t : {&c.labels, &c.source, &c.coords}) {
    if (t->defined() && t->dim() != 4) {
      std::ostringstream shape;
      shape << t->sizes();
      throw Error("gan: a condition of shape " + shape.str() + " is not [B, C, H, W]", ExitCode::kRuntime);
    }
  }
}

torch::Tensor GanModel::condition_map(const Condition& c) const { return spatial_condition(config_, c, device_); }

StepStats GanModel::train_step(const Batch& batch, std::uint64_t seed) {
  if (!gen_.configured()) throw Error("train_step before configure_training", ExitCode::kRuntime);
  if (!batch.image.defined()) throw Error("a training batch needs images", ExitCode::kRuntime);
  check_condition(batch);
  auto& g = generator(false);
  g.train();
  disc_->train();
  // Dropout (pix2pix) draws from the global generator: each rank of a data-parallel run gets its
  // own stream. Nothing else in a step is random.
  torch::manual_seed(derive_seed(seed, static_cast<std::uint64_t>(batch.global_offset), 1));
  auto real = batch.image.to(device_);
  auto cond = condition_map(batch);
  auto fake = run_generator(false, cond);

  // Both losses against the current discriminator (pix2pixHD's order), before any update.
  auto d_real = disc_->forward(torch::cat({cond, real}, 1));
  auto d_fake = disc_->forward(torch::cat({cond, fake.detach()}, 1));
  auto d_loss = nn::discriminator_loss(config_.gan_loss, d_real, d_fake);
  // The generator's pass through a discriminator whose weights record no gradient.
  set_requires_grad(*disc_, false);
  auto g_fake = disc_->forward(torch::cat({cond, fake}, 1));
  set_requires_grad(*disc_, true);
  auto adv = nn::generator_loss(config_.gan_loss, g_fake);
  auto l1 = torch::l1_loss(fake, real);
  auto g_loss = adv + config_.l1_weight * l1;
  torch::Tensor fm;
  if (config_.feature_matching > 0) {
    fm = nn::feature_matching_loss(d_real, g_fake);  // real features detached inside
    g_loss = g_loss + config_.feature_matching * fm;
  }
  last_.adversarial = adv.item<double>();
  last_.l1 = l1.item<double>();
  last_.feature_matching = fm.defined() ? fm.item<double>() : 0.0;
  last_.discriminator = d_loss.item<double>();

  // The generator's loss is what the trainer logs; a non-finite discriminator loss stops it too.
  // g_loss reaches the generator's weights only (the discriminator's were frozen), d_loss the
  // discriminator's only (the fake was detached).
  const double local = std::isfinite(last_.discriminator) ? g_loss.item<double>() : last_.discriminator;
  return finish_step(*this, local, {g_loss, d_loss}, {&gen_, &dis_});
}

torch::Tensor GanModel::generate(const Condition& c, bool use_ema) {
  check_condition(c);
  torch::NoGradGuard ng;
  auto& g = generator(use_ema);
  const bool was_training = g.is_training();
  g.eval();
  auto x = run_generator(use_ema, condition_map(c));
  if (was_training) g.train();
  return x;
}

torch::Tensor GanModel::sample(const Condition& c, const SampleOptions& o) {
  if (o.mask.defined()) require(*this, Capability::kInpaint);
  if (o.initial.defined()) require(*this, Capability::kInterpolate);
  if (c.size() == 0) {
    throw Error("a gan model maps a condition to an image and cannot sample without one (give --condition or --source)",
                ExitCode::kUsage);
  }
  if (!o.seeds.empty() && static_cast<std::int64_t>(o.seeds.size()) != c.size()) {
    throw Error("sample: one seed per condition is needed", ExitCode::kRuntime);
  }
  return generate(c, true).clamp(-1, 1);
}

nn::MultiScaleFeatures GanModel::discriminate(const Condition& c, const torch::Tensor& image) {
  check_condition(c);
  return disc_->forward(torch::cat({condition_map(c), image.to(device_)}, 1));
}

void GanModel::save(torch::serialize::OutputArchive& archive) {
  gen_.save(archive, kGeneratorKeys);
  dis_.save(archive, kDiscriminatorKeys);
}

void GanModel::load(torch::serialize::InputArchive& archive) {
  gen_.load(archive, kGeneratorKeys);
  dis_.load(archive, kDiscriminatorKeys);
}

std::vector<torch::Tensor> GanModel::weights() {
  auto w = gen_.parameters();
  for (auto& p : dis_.parameters()) w.push_back(p);
  return w;
}

std::int64_t GanModel::parameter_count() {
  std::int64_t n = 0;
  for (const auto& p : weights()) n += p.numel();
  return n;
}

}  // namespace medsynth::modules
