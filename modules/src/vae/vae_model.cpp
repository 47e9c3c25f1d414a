#include "medsynth/modules/vae/vae_model.h"

#include <algorithm>
#include <cmath>

#include "medsynth/modules/seed.h"
#include "medsynth/modules/train_util.h"
#include "medsynth/modules/trained_net.h"

namespace medsynth::modules {

namespace nn {

VaeNetImpl::VaeNetImpl(const ModelConfig& c)
    : levels(static_cast<int>(c.channels.size())),
      res_blocks(c.res_blocks),
      embed_dim(4 * c.channels.at(0)),
      cond_channels(spatial_condition_channels(c)),
      has_classes(c.num_classes > 0),
      has_position(c.slice_position) {
  for (int ch : c.channels) {
    if (ch % c.groups != 0) {
      throw Error("model.channels: " + std::to_string(ch) + " is not a multiple of model.groups (" +
                  std::to_string(c.groups) + ")", ExitCode::kUsage);
    }
  }
  if (c.image_size % (1 << (levels - 1)) != 0) {
    throw Error("model.image_size " + std::to_string(c.image_size) + " must be divisible by 2^(levels-1) = " +
                std::to_string(1 << (levels - 1)), ExitCode::kUsage);
  }
  if (c.latent_channels < 1) throw Error("model.latent_channels must be at least 1", ExitCode::kUsage);
  const int E = embed_dim;
  if (has_classes) class_embed = register_module("class_embed", torch::nn::Embedding(c.num_classes, E));
  if (has_position) {
    pos1 = register_module("pos1", torch::nn::Linear(c.channels[0], E));
    pos2 = register_module("pos2", torch::nn::Linear(E, E));
  }
  // Encoder: the image with its spatial conditions concatenated.
  enc_in = register_module("enc_in", torch::nn::Conv2d(
                                         torch::nn::Conv2dOptions(c.image_channels + cond_channels, c.channels[0], 3).padding(1)));
  int ch = c.channels[0];
  for (int l = 0; l < levels; ++l) {
    for (int b = 0; b < res_blocks; ++b) {
      enc_blocks.push_back(register_module("enc_" + std::to_string(enc_blocks.size()),
                                           ResBlock(ch, c.channels[l], E, c.groups, c.dropout)));
      ch = c.channels[l];
    }
    if (l + 1 < levels) downs.push_back(register_module("down_" + std::to_string(l), Downsample(ch)));
  }
  enc_norm = register_module("enc_norm", torch::nn::GroupNorm(torch::nn::GroupNormOptions(c.groups, ch)));
  enc_out = register_module("enc_out", torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, 2 * c.latent_channels, 3).padding(1)));
  // Decoder: conditions through SPADE in every block (the label map's detail at every scale).
  dec_in = register_module("dec_in", torch::nn::Conv2d(torch::nn::Conv2dOptions(c.latent_channels, ch, 3).padding(1)));
  for (int l = levels - 1; l >= 0; --l) {
    for (int b = 0; b < res_blocks; ++b) {
      dec_blocks.push_back(register_module("dec_" + std::to_string(dec_blocks.size()),
                                           ResBlock(ch, c.channels[l], E, c.groups, c.dropout, cond_channels)));
      ch = c.channels[l];
    }
    if (l > 0) ups.push_back(register_module("up_" + std::to_string(l), Upsample(ch)));
  }
  dec_norm = register_module("dec_norm", AdaptiveNorm(ch, c.groups, cond_channels));
  dec_out = register_module("dec_out", torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, c.image_channels, 3).padding(1)));
}

torch::Tensor VaeNetImpl::embedding(const Condition& c, std::int64_t batch, torch::Device device) {
  auto e = torch::zeros({batch, embed_dim}, torch::TensorOptions().device(device));
  if (has_classes && c.class_id.defined()) e = e + class_embed(c.class_id.to(device, torch::kLong));
  if (has_position && c.position.defined()) {
    e = e + pos2(torch::silu(pos1(sinusoidal_embedding(c.position.to(device), static_cast<int>(pos1->options.in_features())))));
  }
  return e;
}

torch::Tensor VaeNetImpl::encode(const torch::Tensor& image, const torch::Tensor& cond, const torch::Tensor& emb) {
  auto h = enc_in(cond.defined() ? torch::cat({image, cond}, 1) : image);
  std::size_t b = 0;
  for (int l = 0; l < levels; ++l) {
    for (int r = 0; r < res_blocks; ++r) h = enc_blocks[b++](h, emb, torch::Tensor());
    if (l + 1 < levels) h = downs[static_cast<std::size_t>(l)](h);
  }
  return enc_out(torch::silu(enc_norm(h)));
}

torch::Tensor VaeNetImpl::decode(const torch::Tensor& z, const torch::Tensor& cond, const torch::Tensor& emb) {
  auto h = dec_in(z);
  std::size_t b = 0, u = 0;
  for (int l = levels - 1; l >= 0; --l) {
    for (int r = 0; r < res_blocks; ++r) h = dec_blocks[b++](h, emb, cond);
    if (l > 0) h = ups[u++](h);
  }
  return dec_out(torch::silu(dec_norm(h, cond)));
}

}  // namespace nn

namespace {

// KL(q(z|x) || N(0, I)) per sample, summed over the latent.
torch::Tensor kl_divergence(const torch::Tensor& mean, const torch::Tensor& logvar) {
  return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).flatten(1).sum(1);
}

}  // namespace

VaeModel::VaeModel(const ModelConfig& config, torch::Device device) : config_(config), device_(device) {
  if (config_.adv_weight < 0 || config_.perceptual_weight < 0 || config_.kl_weight < 0) {
    throw Error("model.kl_weight, model.adv_weight and model.perceptual_weight must not be negative", ExitCode::kUsage);
  }
  if (config_.perceptual_weight > 0 && config_.adv_weight <= 0) {
    throw Error("model.perceptual_weight measures in the discriminator's features: it needs model.adv_weight > 0",
                ExitCode::kUsage);
  }
  torch::manual_seed(0);  // one config, one initial model
  net_ = nn::VaeNet(config_);
  ema_ = nn::VaeNet(config_);
  net_->to(device_);
  ema_->to(device_);
  trained_ = TrainedNet(net_.ptr(), ema_.ptr());
  init_adversary();
}

std::int64_t VaeModel::factor() const { return std::int64_t{1} << (static_cast<int>(config_.channels.size()) - 1); }

std::vector<std::int64_t> VaeModel::latent_shape() const {
  const auto f = factor();
  return {config_.latent_channels, config_.image_size / f, config_.image_size / f};
}

std::vector<std::int64_t> VaeModel::latent_shape(const Condition& c, const SampleOptions& o) const {
  // Fully convolutional: a whole slice of any size has the latent of its size rounded up to a
  // multiple of the factor (decode() pads the condition to it and crops the slice back).
  auto [h, w] = spatial_size(c);
  if (h == 0 && o.height > 0 && o.width > 0) h = o.height, w = o.width;
  if (h == 0) return latent_shape();
  const auto f = factor();
  return {config_.latent_channels, (h + f - 1) / f, (w + f - 1) / f};
}

void VaeModel::check_condition(const Condition& c) const {
  auto refuse = [](const std::string& why) { throw Error("this vae model " + why); };
  if (config_.label_classes > 0 && !c.labels.defined()) refuse("was trained with label maps: it needs one");
  if (config_.label_classes == 0 && c.labels.defined()) refuse("was trained without label maps");
  const int k = context_slices(config_);
  if (c.labels.defined() && c.labels.size(1) != config_.label_classes * k) {
    refuse("was trained with " + std::to_string(config_.label_classes) + " label classes on " + std::to_string(k) +
           " slice(s), not a map of " + std::to_string(c.labels.size(1)) + " channels");
  }
  if (config_.source_image != c.source.defined()) {
    refuse(config_.source_image ? "was trained with source images: it needs one" : "was trained without source images");
  }
  if (c.source.defined() && c.source.size(1) != k) {
    refuse("was trained with sources of " + std::to_string(k) + " slice(s), not " + std::to_string(c.source.size(1)));
  }
  if (config_.coordinates != c.coords.defined()) {
    refuse(config_.coordinates ? "was trained with pixel coordinates (patches): it needs them"
                               : "was trained without pixel coordinates");
  }
  if (config_.num_classes > 0 && !c.class_id.defined()) refuse("was trained with classes: it needs one");
  if (config_.num_classes == 0 && c.class_id.defined()) refuse("was trained without classes");
  if (c.class_id.defined() &&
      (c.class_id.min().item<int64_t>() < 0 || c.class_id.max().item<int64_t>() >= config_.num_classes)) {
    refuse("knows classes 0.." + std::to_string(config_.num_classes - 1) + " only");
  }
  if (c.position.defined() && !config_.slice_position) refuse("was trained without slice positions");
}

torch::Tensor VaeModel::cond_map(const Condition& c, std::int64_t batch, std::int64_t height, std::int64_t width) const {
  auto m = spatial_condition(config_, c, device_);
  if (m.defined() && (m.size(0) != batch || m.size(2) != height || m.size(3) != width)) {
    throw Error("vae: condition and images differ in size", ExitCode::kRuntime);
  }
  return m;
}

void VaeModel::configure_training(const OptimConfig& optim) {
  trained_.configure(optim, optim.beta1);
  configure_adversary(optim);
}

void VaeModel::set_learning_rate(double lr) {
  trained_.set_learning_rate(lr);
  if (adversary_) adversary_net()->set_learning_rate(lr);
}

StepStats VaeModel::train_step(const Batch& batch, std::uint64_t seed) {
  if (!trained_.configured()) throw Error("train_step before configure_training", ExitCode::kRuntime);
  if (!batch.image.defined()) throw Error("a training batch needs images", ExitCode::kRuntime);
  check_condition(batch);
  net_->train();
  torch::manual_seed(derive_seed(seed, static_cast<std::uint64_t>(batch.global_offset), 1));  // dropout
  auto gen = make_generator(seed);
  auto x = batch.image.to(device_);
  const auto B = x.size(0);
  auto cond = cond_map(batch, B, x.size(2), x.size(3));
  auto emb = net_->embedding(batch, B, device_);
  auto stats_ = net_->encode(x, cond, emb).chunk(2, 1);
  auto mean = stats_[0], logvar = stats_[1].clamp(-30.0, 20.0);
  auto noise = batch_randn(gen, mean.sizes(), batch, device_);
  auto z = mean + (0.5 * logvar).exp() * noise;
  auto recon = net_->decode(z, cond, emb);
  const double pixels = static_cast<double>(x[0].numel());
  const double warm = config_.kl_warmup > 0 ? std::min(1.0, static_cast<double>(trained_.updates() + 1) / config_.kl_warmup) : 1.0;
  auto loss = torch::l1_loss(recon, x) + (config_.kl_weight * warm / pixels) * kl_divergence(mean, logvar).mean();
  loss = loss + adversarial_generator_loss(x, recon, cond);
  if (!adversary_) return finish_step(*this, loss.item<double>(), {loss}, {&trained_});
  // VAE-GAN: both losses against the current discriminator, then both networks step. The VAE's
  // loss is what the trainer logs; a non-finite discriminator loss stops it too (as in the gan).
  auto d_loss = discriminator_loss(x, recon, cond);
  const double d = d_loss.item<double>();
  return finish_step(*this, std::isfinite(d) ? loss.item<double>() : d, {loss, d_loss}, {&trained_, adversary_net()});
}

std::pair<torch::Tensor, torch::Tensor> VaeModel::posterior(const torch::Tensor& image, const Condition& c) {
  check_condition(c);
  torch::NoGradGuard ng;
  ema_->eval();
  auto x = image.to(device_, torch::kFloat);
  const auto B = x.size(0);
  // A slice of any size: padded (edge values) to a multiple of the factor, with its condition.
  auto cond = cond_map(c, B, x.size(2), x.size(3));
  const auto f = factor();
  auto parts = ema_->encode(nn::pad_to_multiple(x, f), cond.defined() ? nn::pad_to_multiple(cond, f) : cond,
                            ema_->embedding(c, B, device_)).chunk(2, 1);
  return {parts[0], parts[1].clamp(-30.0, 20.0)};
}

torch::Tensor VaeModel::encode(const torch::Tensor& image, const Condition& c, const SampleOptions&) {
  return posterior(image, c).first;
}

torch::Tensor VaeModel::decode(const torch::Tensor& z, const Condition& c) {
  check_condition(c);
  torch::NoGradGuard ng;
  ema_->eval();
  const auto B = z.size(0), f = factor(), H = z.size(2) * f, W = z.size(3) * f;
  // The slice is the condition's size (the latent covers it rounded up to the factor), or the
  // latent's without an image-shaped condition.
  auto [h, w] = spatial_size(c);
  if (h == 0) h = H, w = W;
  if ((h + f - 1) / f != z.size(2) || (w + f - 1) / f != z.size(3)) {
    throw Error("vae: a latent of " + std::to_string(z.size(2)) + "x" + std::to_string(z.size(3)) + " does not cover a " +
                std::to_string(h) + "x" + std::to_string(w) + " condition", ExitCode::kRuntime);
  }
  auto cond = cond_map(c, B, h, w);
  if (cond.defined()) cond = nn::pad_to_multiple(cond, f);
  return ema_->decode(z.to(device_, torch::kFloat), cond, ema_->embedding(c, B, device_)).narrow(2, 0, h).narrow(3, 0, w)
      .clamp(-1, 1);
}

torch::Tensor VaeModel::sample(const Condition& c, const SampleOptions& o) {
  const auto shape = latent_shape(c, o);
  torch::Tensor z;
  if (o.initial.defined()) {
    if (o.initial.dim() != 4 || o.initial.sizes().slice(1) != torch::IntArrayRef(shape)) {
      throw Error("sample: the start latent has another shape than the vae's latents", ExitCode::kRuntime);
    }
    z = o.initial;
  } else {
    const std::int64_t B = o.seeds.empty() ? c.size() : static_cast<std::int64_t>(o.seeds.size());
    if (B == 0) throw Error("sample: no condition and no seeds: nothing to sample", ExitCode::kUsage);
    auto gens = sample_generators(o, B);
    z = per_sample_noise(gens, shape, device_);
  }
  if (c.size() != 0 && c.size() != z.size(0)) throw Error("sample: one seed per condition is needed", ExitCode::kRuntime);
  if (o.mask.defined()) require(*this, Capability::kInpaint);
  return decode(z, c);
}

namespace {
const ArchiveKeys kVaeKeys{"model", "ema", "steps", "optimizer"};
}  // namespace

void VaeModel::save(torch::serialize::OutputArchive& archive) {
  trained_.save(archive, kVaeKeys);
  save_adversary(archive);
}

void VaeModel::load(torch::serialize::InputArchive& archive) {
  trained_.load(archive, kVaeKeys);
  load_adversary(archive);
}

std::vector<torch::Tensor> VaeModel::weights() {
  auto w = trained_.parameters();
  for (auto& t : adversary_weights()) w.push_back(t);
  return w;
}

// Every trained weight, the discriminator's too (as the gan family counts).
std::int64_t VaeModel::parameter_count() {
  std::int64_t n = 0;
  for (const auto& p : weights()) n += p.numel();
  return n;
}

}  // namespace medsynth::modules
