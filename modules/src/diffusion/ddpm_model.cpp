#include "medsynth/modules/diffusion/ddpm_model.h"

#include <algorithm>
#include <cmath>

#include "medsynth/modules/diffusion/sampler.h"
#include "medsynth/modules/seed.h"
#include "medsynth/modules/train_util.h"
#include "medsynth/modules/trained_net.h"

namespace medsynth::modules {
namespace {

int input_channels(const ModelConfig& c) {
  const int k = context_slices(c);
  int n = c.image_channels;
  if (c.label_classes > 0 && c.label_mode == "concat") n += k * c.label_classes + 1;  // + presence flag
  if (c.source_image) n += k + 1;                                                      // images + presence flag
  if (c.coordinates) n += 2;
  return n;
}

}  // namespace

DdpmModel::DdpmModel(const ModelConfig& config, torch::Device device)
    : config_(config), device_(device), schedule_(config.parametrization, config.schedule, config.timesteps, config.predict, config.time_sampling) {
  if (config_.label_mode != "concat" && config_.label_mode != "spade") {
    throw Error("model.label_mode '" + config_.label_mode + "' is not concat or spade", ExitCode::kUsage);
  }
  if (config_.context < 0) throw Error("data.context must be 0 or more", ExitCode::kUsage);
  // Weights initialise from LibTorch's global generator: seed it so a config gives one model.
  torch::manual_seed(0);
  net_ = nn::UNet(config_, input_channels(config_), config_.image_channels);
  ema_ = nn::UNet(config_, input_channels(config_), config_.image_channels);
  net_->to(device_);
  ema_->to(device_);
  trained_ = TrainedNet(net_.ptr(), ema_.ptr());
}

void DdpmModel::configure_training(const OptimConfig& optim) { trained_.configure(optim, optim.beta1); }

void DdpmModel::set_learning_rate(double lr) { trained_.set_learning_rate(lr); }

void DdpmModel::check_condition(const Condition& c) const {
  auto refuse = [&](const std::string& what, const std::string& why) {
    throw Error("this ddpm model cannot take " + what + ": " + why);
  };
  if (c.labels.defined()) {
    if (config_.label_classes == 0) refuse("a label map", "it was trained without one");
    if (c.labels.size(1) != config_.label_classes * context_slices(config_)) {
      refuse("a label map of " + std::to_string(c.labels.size(1)) + " channels",
             "it was trained with " + std::to_string(config_.label_classes) + " classes on " +
                 std::to_string(context_slices(config_)) + " slice(s)");
    }
  }
  if (c.source.defined() && !config_.source_image) refuse("a source image", "it was trained without one");
  if (c.source.defined() && c.source.size(1) != context_slices(config_)) {
    refuse("a source of " + std::to_string(c.source.size(1)) + " slice(s)",
           "it was trained with " + std::to_string(context_slices(config_)));
  }
  if (c.coords.defined() && !config_.coordinates) refuse("pixel coordinates", "it was trained without them");
  if (c.class_id.defined()) {
    if (config_.num_classes == 0) refuse("a class", "it was trained without classes");
    if (c.class_id.min().item<int64_t>() < 0 || c.class_id.max().item<int64_t>() >= config_.num_classes) {
      refuse("class ids outside 0.." + std::to_string(config_.num_classes - 1), "no such class");
    }
  }
  if (c.position.defined() && !config_.slice_position) refuse("a slice position", "it was trained without one");
  if (c.acquisition.defined()) {
    if (config_.acquisition_width == 0) refuse("acquisition attributes", "it was trained without them");
    if (c.acquisition.size(1) != config_.acquisition_width || !c.acquisition_mask.defined() ||
        c.acquisition_mask.sizes() != c.acquisition.sizes()) {
      refuse("an acquisition vector of " + std::to_string(c.acquisition.size(1)) + " values",
             "it was trained with " + std::to_string(config_.acquisition_width) + " and their masks");
    }
  }
}

nn::UNetInput DdpmModel::assemble(const torch::Tensor& x_t, const torch::Tensor& t, const Condition& c,
                                  const torch::Tensor& present) {
  const auto B = x_t.size(0), H = x_t.size(2), W = x_t.size(3);
  auto opts = x_t.options();
  auto p4 = present.view({B, 1, 1, 1});
  std::vector<torch::Tensor> parts{x_t};
  nn::UNetInput in;
  in.t = t.to(torch::kFloat);
  if (config_.label_classes > 0) {
    // An absent or dropped label map is all zeros (never a valid one-hot map) with its flag 0.
    const auto K = static_cast<std::int64_t>(config_.label_classes) * context_slices(config_);
    auto labels = c.labels.defined() ? c.labels.to(opts) * p4 : torch::zeros({B, K, H, W}, opts);
    auto flag = c.labels.defined() ? p4.expand({B, 1, H, W}) : torch::zeros({B, 1, H, W}, opts);
    if (config_.label_mode == "concat") {
      parts.push_back(labels);
      parts.push_back(flag);
    } else {
      in.spade_labels = labels;
    }
  }
  if (config_.source_image) {
    auto src = c.source.defined() ? c.source.to(opts) * p4 : torch::zeros({B, context_slices(config_), H, W}, opts);
    auto flag = c.source.defined() ? p4.expand({B, 1, H, W}) : torch::zeros({B, 1, H, W}, opts);
    parts.push_back(src);
    parts.push_back(flag);
  }
  if (config_.coordinates) {
    // Where the pixel is, never dropped (it is not a condition a user chooses).
    parts.push_back(c.coords.defined() ? c.coords.to(opts) : torch::zeros({B, 2, H, W}, opts));
  }
  in.x = parts.size() == 1 ? x_t : torch::cat(parts, 1);
  if (config_.num_classes > 0) {
    auto none = torch::full({B}, config_.num_classes, torch::TensorOptions().dtype(torch::kLong).device(device_));
    if (c.class_id.defined()) {
      auto keep = present.to(torch::kBool);
      in.class_id = torch::where(keep, c.class_id.to(device_, torch::kLong), none);
    } else {
      in.class_id = none;
    }
  }
  if (config_.slice_position) {
    in.position = c.position.defined() ? c.position.to(opts) : torch::zeros({B}, opts);
    in.position_present = c.position.defined() ? present : torch::zeros({B}, opts);
  }
  if (config_.acquisition_width > 0) {
    // Not given (absent, or dropped with the other conditions) = values and masks 0.
    const std::int64_t A = config_.acquisition_width;
    in.acquisition = c.acquisition.defined() ? c.acquisition.to(opts) : torch::zeros({B, A}, opts);
    in.acquisition_mask = c.acquisition.defined() ? c.acquisition_mask.to(opts) * present.view({B, 1}) : torch::zeros({B, A}, opts);
  }
  return in;
}

StepStats DdpmModel::train_step(const Batch& batch, std::uint64_t seed) {
  if (!trained_.configured()) throw Error("train_step before configure_training", ExitCode::kRuntime);
  if (!batch.image.defined()) throw Error("a training batch needs images", ExitCode::kRuntime);
  check_condition(batch);
  net_->train();
  // Dropout draws from the global generator: each rank of a data-parallel run gets its own
  // stream (dropout masks are the one thing not matched across world sizes).
  torch::manual_seed(derive_seed(seed, static_cast<std::uint64_t>(batch.global_offset), 1));
  auto gen = make_generator(seed);
  auto x0 = batch.image.to(device_);
  const auto extent = global_extent(batch);
  const std::int64_t G = extent.first, off = extent.second;
  const auto B = x0.size(0);
  auto rows = [&](const torch::Tensor& t) { return t.narrow(0, off, B).to(device_); };
  auto shape = x0.sizes().vec();
  shape[0] = G;
  // Drawn for the global batch in a fixed order (times, noise, dropout), this rank's rows taken.
  const auto d = schedule_.draw(gen, G);
  auto noise = rows(torch::randn(shape, gen, torch::kFloat));
  auto present = rows((torch::rand({G}, gen, torch::kFloat) >= config_.condition_dropout).to(torch::kFloat));
  auto a = rows(d.a).view({-1, 1, 1, 1}), s = rows(d.s).view({-1, 1, 1, 1});
  auto x_t = a * x0 + s * noise;
  Batch cond = batch;
  if (config_.acquisition_width > 0 && batch.acquisition.defined()) {
    // Each attribute is also left out on its own (at model.condition_dropout), so that a prompt
    // may give some attributes and not others. Drawn after everything else: other draws unchanged.
    auto keep = rows((torch::rand({G, config_.acquisition_width}, gen, torch::kFloat) >= config_.condition_dropout).to(torch::kFloat));
    cond.acquisition_mask = batch.acquisition_mask.to(device_) * keep;
  }
  auto out = schedule_.output(x_t, net_->forward(assemble(x_t, rows(d.t_net), cond, present)), a, s);
  auto target = schedule_.target(x0, noise, a, s);
  auto loss = torch::mse_loss(out, target);
  return finish_step(*this, loss.item<double>(), {loss}, {&trained_});
}

torch::Tensor DdpmModel::predict(const torch::Tensor& x, const torch::Tensor& t, const Condition& c,
                                 double guidance, bool use_ema) {
  auto& net = use_ema ? ema_ : net_;
  const auto B = x.size(0);
  auto ones = torch::ones({B}, x.options());
  auto zeros = torch::zeros({B}, x.options());
  if (guidance == 1.0) return net->forward(assemble(x, t, c, ones));
  if (guidance == 0.0) return net->forward(assemble(x, t, c, zeros));
  // One forward pass on [conditional; unconditional]; guided = u + w (c - u).
  auto in_c = assemble(x, t, c, ones);
  auto in_u = assemble(x, t, c, zeros);
  nn::UNetInput both;
  both.x = torch::cat({in_c.x, in_u.x});
  both.t = torch::cat({in_c.t, in_u.t});
  if (in_c.spade_labels.defined()) both.spade_labels = torch::cat({in_c.spade_labels, in_u.spade_labels});
  if (in_c.class_id.defined()) both.class_id = torch::cat({in_c.class_id, in_u.class_id});
  if (in_c.position.defined()) {
    both.position = torch::cat({in_c.position, in_u.position});
    both.position_present = torch::cat({in_c.position_present, in_u.position_present});
  }
  if (in_c.acquisition.defined()) {
    both.acquisition = torch::cat({in_c.acquisition, in_u.acquisition});
    both.acquisition_mask = torch::cat({in_c.acquisition_mask, in_u.acquisition_mask});
  }
  auto out = net->forward(both);
  auto cond = out.narrow(0, 0, B), uncond = out.narrow(0, B, B);
  return uncond + guidance * (cond - uncond);
}

std::vector<std::int64_t> DdpmModel::sample_shape(const Condition& c, const SampleOptions& o) const {
  // An image-shaped condition sets the size; without one, the options' size or the training size.
  for (const auto* t : {&c.labels, &c.source, &c.coords}) {
    if (t->defined()) return {config_.image_channels, t->size(2), t->size(3)};
  }
  if (o.height > 0 && o.width > 0) return {config_.image_channels, o.height, o.width};
  return {config_.image_channels, config_.image_size, config_.image_size};
}

diffusion::Denoiser DdpmModel::denoiser(const Condition& c, double guidance) {
  return [this, &c, guidance](const torch::Tensor& x, const diffusion::Level& l) {
    auto tt = torch::full({x.size(0)}, l.t_net, torch::TensorOptions().dtype(torch::kFloat).device(device_));
    return schedule_.output(x, predict(x, tt, c, guidance), l);
  };
}

torch::Tensor DdpmModel::sample(const Condition& c, const SampleOptions& o) {
  check_condition(c);
  diffusion::check_sampler(schedule_, o.sampler);
  torch::NoGradGuard ng;
  ema_->eval();
  const std::int64_t B = o.initial.defined() ? o.initial.size(0)
                        : o.seeds.empty()   ? c.size()
                                            : static_cast<std::int64_t>(o.seeds.size());
  if (B == 0) throw Error("sample: no condition and no seeds: nothing to sample", ExitCode::kUsage);
  if (c.size() != 0 && c.size() != B) throw Error("sample: one seed per condition is needed", ExitCode::kRuntime);
  auto gens = sample_generators(o, B);
  const auto shape = sample_shape(c, o);
  if (o.initial.defined() && (o.initial.dim() != 4 || o.initial.sizes().slice(1) != torch::IntArrayRef(shape))) {
    throw Error("sample: the start latent has another shape than the model's images", ExitCode::kRuntime);
  }
  auto x = o.initial.defined() ? o.initial.to(device_, torch::kFloat) : start_noise(o, gens, shape, device_);
  if (o.initial.defined()) {
    // The caller drew the start (a latent, or its own start noise from these seeds): stochastic
    // steps take another stream of each sample's seed, never the start's values again.
    SampleOptions steps_from = o;
    for (std::size_t i = 0; i < steps_from.seeds.size(); ++i) steps_from.seeds[i] = derive_seed(o.seeds[i], 1, 17);
    gens = sample_generators(steps_from, B);
  }
  nn::HeldConditions held(*ema_, o.reuse_conditions);  // c is the same on every step
  return diffusion::sample(schedule_, denoiser(c, o.guidance), x, o,
                           [&] { return per_sample_noise(gens, shape, device_); });
}

torch::Tensor DdpmModel::encode(const torch::Tensor& image, const Condition& c, const SampleOptions& o) {
  check_condition(c);
  torch::NoGradGuard ng;
  ema_->eval();
  nn::HeldConditions held(*ema_, o.reuse_conditions);
  return diffusion::invert(schedule_, denoiser(c, o.guidance), image.to(device_, torch::kFloat), o);
}

void DdpmModel::save(torch::serialize::OutputArchive& archive) { trained_.save(archive, ArchiveKeys{}); }

void DdpmModel::load(torch::serialize::InputArchive& archive) { trained_.load(archive, ArchiveKeys{}); }

std::vector<torch::Tensor> DdpmModel::weights() { return trained_.parameters(); }

std::int64_t DdpmModel::parameter_count() { return trained_.parameter_count(); }

}  // namespace medsynth::modules
