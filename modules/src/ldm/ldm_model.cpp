#include "medsynth/modules/ldm/ldm_model.h"

#include <algorithm>
#include <sstream>

#include "medsynth/modules/nn/blocks.h"
#include "medsynth/modules/seed.h"
#include "medsynth/modules/train_util.h"

namespace medsynth::modules {
namespace {
namespace F = torch::nn::functional;
}

LdmModel::LdmModel(const ModelConfig& config, torch::Device device) : config_(config), device_(device) {}

void LdmModel::set_autoencoder(std::unique_ptr<GenerativeModel> model) {
  if (!model || model->family() != "vae") {
    throw Error("model.autoencoder " + config_.autoencoder + " is a " + (model ? model->family() : std::string("missing")) +
                    " checkpoint; ldm needs a vae",
                ExitCode::kUsage);
  }
  attach(std::unique_ptr<VaeModel>(static_cast<VaeModel*>(model.release())));
}

void LdmModel::attach(std::unique_ptr<VaeModel> vae) {
  const ModelConfig& v = vae->config();
  const std::string where = "model.autoencoder " + config_.autoencoder + ": ";
  if (v.image_size != config_.image_size) {
    throw Error(where + "was trained on " + std::to_string(v.image_size) + "x" + std::to_string(v.image_size) +
                " slices, this model's are " + std::to_string(config_.image_size) + " (data.grid)", ExitCode::kUsage);
  }
  if ((v.label_classes > 0 && v.label_classes != config_.label_classes) || (v.source_image && !config_.source_image) ||
      (v.num_classes > 0 && v.num_classes != config_.num_classes) || (v.slice_position && !config_.slice_position) ||
      ((v.label_classes > 0 || v.source_image) && v.context != config_.context) || v.coordinates != config_.coordinates) {
    throw Error(where + "the vae takes conditions this model's data does not have (train both on one data config)",
                ExitCode::kUsage);
  }
  const auto shape = vae->latent_shape();
  factor_ = static_cast<int>(config_.image_size / shape[1]);
  ModelConfig inner = config_;
  inner.family = "ddpm";
  inner.image_size = static_cast<int>(shape[1]);
  inner.image_channels = static_cast<int>(shape[0]);
  vae_ = std::move(vae);
  for (auto& p : vae_->weights()) p.set_requires_grad(false);  // frozen: only the diffusion trains
  diffusion_ = std::make_unique<DdpmModel>(inner, device_);
  if (pending_optim_) diffusion_->configure_training(*pending_optim_);
}

void LdmModel::need_autoencoder() const {
  if (!vae_) {
    throw Error("family ldm needs its vae: set_autoencoder() with the checkpoint of model.autoencoder, or load() a "
                "trained ldm checkpoint",
                ExitCode::kUsage);
  }
}

void LdmModel::configure_training(const OptimConfig& optim) {
  pending_optim_ = std::make_unique<OptimConfig>(optim);
  need_autoencoder();
  diffusion_->configure_training(optim);
}

void LdmModel::set_learning_rate(double lr) {
  need_autoencoder();
  diffusion_->set_learning_rate(lr);
}

Condition LdmModel::latent_condition(const Condition& c) const {
  Condition l = c;
  // A slice of any size is padded (edge values) to the factor, as the vae pads it, then pooled.
  auto pool = [&](const torch::Tensor& t) {
    return factor_ == 1 ? t : F::avg_pool2d(nn::pad_to_multiple(t.to(torch::kFloat), factor_), F::AvgPool2dFuncOptions(factor_));
  };
  if (c.labels.defined()) l.labels = pool(c.labels);  // soft label fractions per latent cell
  if (c.source.defined()) l.source = pool(c.source);
  if (c.coords.defined()) l.coords = pool(c.coords);  // each cell's centre
  l.image = torch::Tensor();
  return l;
}

Condition LdmModel::vae_condition(const Condition& c) const {
  const ModelConfig& v = vae_->config();
  Condition out;
  if (v.label_classes > 0) out.labels = c.labels;
  if (v.source_image) out.source = c.source;
  if (v.num_classes > 0) out.class_id = c.class_id;
  if (v.slice_position) out.position = c.position;
  if (v.coordinates) out.coords = c.coords;
  return out;
}

torch::Tensor LdmModel::to_latent(const torch::Tensor& image, const Condition& c, at::Generator* gen, const Batch* batch) {
  auto [mean, logvar] = vae_->posterior(image, vae_condition(c));
  if (gen == nullptr) return mean * scale_;
  return (mean + (0.5 * logvar).exp() * batch_randn(*gen, mean.sizes(), *batch, device_)) * scale_;
}

StepStats LdmModel::train_step(const Batch& batch, std::uint64_t seed) {
  need_autoencoder();
  if (!batch.image.defined()) throw Error("a training batch needs images", ExitCode::kRuntime);
  if (scale_ == 0) {
    // Rombach et al.'s scale factor: 1 / std of the latents, from the first batch (averaged
    // over the ranks of a data-parallel run, so that every rank uses one scale).
    double s = vae_->posterior(batch.image, vae_condition(batch)).first.std().item<double>();
    if (loss_hook) s = loss_hook(s);
    scale_ = 1.0 / std::max(s, 1e-6);
  }
  auto gen = make_generator(derive_seed(seed, 0, 7));
  Batch lb = latent_condition(batch);
  lb.global_offset = batch.global_offset;
  lb.global_size = batch.global_size;
  lb.image = to_latent(batch.image, batch, &gen, &batch);
  diffusion_->gradient_hook = gradient_hook;
  diffusion_->loss_hook = loss_hook;
  return diffusion_->train_step(lb, seed);
}

torch::Tensor LdmModel::sample(const Condition& c, const SampleOptions& o) {
  need_autoencoder();
  if (scale_ == 0) throw Error("ldm: sampling from an untrained model (no latent scale yet)", ExitCode::kRuntime);
  SampleOptions lo = o;
  lo.height = (o.height + factor_ - 1) / factor_;  // a slice size asked for is the image's: the latent is factor_ smaller
  lo.width = (o.width + factor_ - 1) / factor_;
  torch::Tensor mask, known;
  if (o.mask.defined()) {
    if (!o.known.defined()) throw Error("inpainting needs the known image", ExitCode::kRuntime);
    known = o.known.to(device_, torch::kFloat);
    mask = o.mask.to(device_, torch::kFloat);
    lo.known = to_latent(known, c, nullptr, nullptr);
    // A latent cell is regenerated when any of its pixels is.
    lo.mask = factor_ == 1 ? mask : F::max_pool2d(nn::pad_to_multiple(mask, factor_), F::MaxPool2dFuncOptions(factor_));
  }
  auto z = diffusion_->sample(latent_condition(c), lo) / scale_;
  const Condition vc = vae_condition(c);
  auto x = vae_->decode(z, vc);
  if (spatial_size(vc).first == 0 && spatial_size(c).first > 0) {
    // The vae takes no image-shaped condition, the diffusion did: crop to the condition's size.
    const auto [h, w] = spatial_size(c);
    x = x.narrow(2, 0, h).narrow(3, 0, w);
  }
  if (mask.defined()) x = mask * x + (1 - mask) * known;  // outside the mask: exactly the input
  return x;
}

torch::Tensor LdmModel::encode(const torch::Tensor& image, const Condition& c, const SampleOptions& o) {
  need_autoencoder();
  return diffusion_->encode(to_latent(image.to(device_, torch::kFloat), c, nullptr, nullptr), latent_condition(c), o);
}

void LdmModel::save(torch::serialize::OutputArchive& archive) {
  need_autoencoder();
  torch::serialize::OutputArchive d, v;
  diffusion_->save(d);
  vae_->save(v);
  archive.write("diffusion", d);
  archive.write("autoencoder", v);
  archive.write("autoencoder_config", c10::IValue(to_text(vae_->config())));
  archive.write("latent_scale", torch::tensor(scale_, torch::kDouble));
}

void LdmModel::load(torch::serialize::InputArchive& archive) {
  c10::IValue text;
  if (!archive.try_read("autoencoder_config", text) || !text.isString()) {
    throw Error("ldm checkpoint lacks its autoencoder", ExitCode::kBadInput);
  }
  const ModelConfig vc = model_config_from_text(text.toStringRef());
  if (!vae_ || to_text(vae_->config()) != to_text(vc)) attach(std::make_unique<VaeModel>(vc, device_));
  torch::serialize::InputArchive d, v;
  archive.read("autoencoder", v);
  vae_->load(v);
  for (auto& p : vae_->weights()) p.set_requires_grad(false);
  archive.read("diffusion", d);
  diffusion_->load(d);
  torch::Tensor s;
  archive.read("latent_scale", s);
  scale_ = s.item<double>();
}

std::vector<torch::Tensor> LdmModel::weights() {
  need_autoencoder();
  return diffusion_->weights();
}

std::int64_t LdmModel::parameter_count() {
  need_autoencoder();
  return diffusion_->parameter_count();
}

}  // namespace medsynth::modules
