#include "medsynth/modules/diffusion/ddpm_model.h"

#include <algorithm>
#include <cmath>

#include "medsynth/modules/diffusion/noise_schedule.h"
#include "medsynth/modules/seed.h"
#include "medsynth/modules/train_util.h"

namespace medsynth::modules {
namespace {

int input_channels(const ModelConfig& c) {
  int n = c.image_channels;
  if (c.label_classes > 0 && c.label_mode == "concat") n += c.label_classes + 1;  // + presence flag
  if (c.source_image) n += 2;                                                      // image + presence flag
  return n;
}

torch::Tensor gather(const torch::Tensor& table, const torch::Tensor& t) {
  return table.index_select(0, t.to(torch::kLong)).view({-1, 1, 1, 1});
}

}  // namespace

DdpmModel::DdpmModel(const ModelConfig& config, torch::Device device) : config_(config), device_(device) {
  if (config_.parametrization != "eps" && config_.parametrization != "v") {
    throw Error("model.parametrization '" + config_.parametrization + "' is not eps or v", ExitCode::kUsage);
  }
  if (config_.label_mode != "concat" && config_.label_mode != "spade") {
    throw Error("model.label_mode '" + config_.label_mode + "' is not concat or spade", ExitCode::kUsage);
  }
  alpha_bar_ = diffusion::alphas_cumprod(config_.schedule, config_.timesteps);
  std::vector<float> ab(alpha_bar_.begin(), alpha_bar_.end());
  alpha_bar_t_ = torch::tensor(ab).to(device_);
  // Weights initialise from LibTorch's global generator: seed it so a config gives one model.
  torch::manual_seed(0);
  net_ = nn::UNet(config_, input_channels(config_), config_.image_channels);
  ema_ = nn::UNet(config_, input_channels(config_), config_.image_channels);
  net_->to(device_);
  ema_->to(device_);
  copy_parameters(*net_, *ema_);
  for (auto& p : ema_->parameters()) p.set_requires_grad(false);
}

void DdpmModel::configure_training(const OptimConfig& optim) {
  optim_ = optim;
  optimizer_ = std::make_unique<torch::optim::AdamW>(
      net_->parameters(), torch::optim::AdamWOptions(optim.lr)
                              .betas({optim.beta1, optim.beta2})
                              .weight_decay(optim.weight_decay));
}

void DdpmModel::set_learning_rate(double lr) {
  modules::set_learning_rate(*optimizer_, lr);
}

void DdpmModel::check_condition(const Condition& c) const {
  auto refuse = [&](const std::string& what, const std::string& why) {
    throw Error("this ddpm model cannot take " + what + ": " + why);
  };
  if (c.labels.defined()) {
    if (config_.label_classes == 0) refuse("a label map", "it was trained without one");
    if (c.labels.size(1) != config_.label_classes) {
      refuse("a label map with " + std::to_string(c.labels.size(1)) + " classes",
             "it was trained with " + std::to_string(config_.label_classes));
    }
  }
  if (c.source.defined() && !config_.source_image) refuse("a source image", "it was trained without one");
  if (c.class_id.defined()) {
    if (config_.num_classes == 0) refuse("a class", "it was trained without classes");
    if (c.class_id.min().item<int64_t>() < 0 || c.class_id.max().item<int64_t>() >= config_.num_classes) {
      refuse("class ids outside 0.." + std::to_string(config_.num_classes - 1), "no such class");
    }
  }
  if (c.position.defined() && !config_.slice_position) refuse("a slice position", "it was trained without one");
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
    auto labels = c.labels.defined() ? c.labels.to(opts) * p4 : torch::zeros({B, config_.label_classes, H, W}, opts);
    auto flag = c.labels.defined() ? p4.expand({B, 1, H, W}) : torch::zeros({B, 1, H, W}, opts);
    if (config_.label_mode == "concat") {
      parts.push_back(labels);
      parts.push_back(flag);
    } else {
      in.spade_labels = labels;
    }
  }
  if (config_.source_image) {
    auto src = c.source.defined() ? c.source.to(opts) * p4 : torch::zeros({B, 1, H, W}, opts);
    auto flag = c.source.defined() ? p4.expand({B, 1, H, W}) : torch::zeros({B, 1, H, W}, opts);
    parts.push_back(src);
    parts.push_back(flag);
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
  return in;
}

StepStats DdpmModel::train_step(const Batch& batch, std::uint64_t seed) {
  if (!optimizer_) throw Error("train_step before configure_training", ExitCode::kRuntime);
  if (!batch.image.defined()) throw Error("a training batch needs images", ExitCode::kRuntime);
  check_condition(batch);
  net_->train();
  // Dropout draws from the global generator: each rank of a data-parallel run gets its own
  // stream (dropout masks are the one thing not matched across world sizes).
  torch::manual_seed(derive_seed(seed, static_cast<std::uint64_t>(batch.global_offset), 1));
  auto gen = make_generator(seed);
  const auto B = batch.image.size(0);
  const auto G = batch.global_size > 0 ? batch.global_size : B;
  const auto off = batch.global_size > 0 ? batch.global_offset : 0;
  auto x0 = batch.image.to(device_);
  auto shape = x0.sizes().vec();
  shape[0] = G;
  auto t = torch::randint(0, config_.timesteps, {G}, gen, torch::kLong).narrow(0, off, B).to(device_);
  auto noise = torch::randn(shape, gen, torch::kFloat).narrow(0, off, B).to(device_);
  auto present = (torch::rand({G}, gen, torch::kFloat) >= config_.condition_dropout).narrow(0, off, B).to(torch::kFloat).to(device_);
  auto ab = gather(alpha_bar_t_, t);
  auto x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise;
  auto out = net_->forward(assemble(x_t, t, batch, present));
  auto target = config_.parametrization == "eps" ? noise : ab.sqrt() * noise - (1 - ab).sqrt() * x0;
  auto loss = torch::mse_loss(out, target);
  StepStats stats;
  stats.loss = loss.item<double>();
  if (loss_hook) stats.loss = loss_hook(stats.loss);
  if (!std::isfinite(stats.loss)) return stats;  // the trainer stops; no step is taken
  optimizer_->zero_grad();
  loss.backward();
  apply_gradient_hook(*this, {net_.get()});
  if (optim_.grad_clip > 0) {
    stats.grad_norm = torch::nn::utils::clip_grad_norm_(net_->parameters(), optim_.grad_clip);
  }
  optimizer_->step();
  update_ema();
  return stats;
}

void DdpmModel::update_ema() { ema_update(*net_, *ema_, optim_.ema_decay, ++ema_updates_); }

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
  auto out = net->forward(both);
  auto cond = out.narrow(0, 0, B), uncond = out.narrow(0, B, B);
  return uncond + guidance * (cond - uncond);
}

torch::Tensor DdpmModel::sample(const Condition& c, const SampleOptions& o) {
  check_condition(c);
  torch::NoGradGuard ng;
  ema_->eval();
  const std::int64_t B = o.initial.defined() ? o.initial.size(0)
                        : o.seeds.empty()   ? c.size()
                                            : static_cast<std::int64_t>(o.seeds.size());
  if (B == 0) throw Error("sample: no condition and no seeds: nothing to sample", ExitCode::kUsage);
  if (c.size() != 0 && c.size() != B) throw Error("sample: one seed per condition is needed", ExitCode::kRuntime);
  if (o.sampler != "ddim" && o.sampler != "ddpm") {
    throw Error("sampler '" + o.sampler + "' is not ddim or ddpm", ExitCode::kUsage);
  }
  const bool inpaint = o.mask.defined();
  if (inpaint && !o.known.defined()) throw Error("inpainting needs the known image", ExitCode::kRuntime);
  auto gens = sample_generators(o, B);
  const std::vector<int64_t> shape{config_.image_channels, config_.image_size, config_.image_size};
  if (o.initial.defined() && (o.initial.dim() != 4 || o.initial.sizes().slice(1) != torch::IntArrayRef(shape))) {
    throw Error("sample: the start latent has another shape than the model's images", ExitCode::kRuntime);
  }
  auto x = o.initial.defined() ? o.initial.to(device_, torch::kFloat) : per_sample_noise(gens, shape, device_);
  torch::Tensor known, mask;
  if (inpaint) {
    known = o.known.to(device_);
    mask = o.mask.to(device_).to(torch::kFloat);
  }
  // DDPM is DDIM over every timestep with eta = 1 (the posterior variance of Ho et al.).
  const bool ddpm = o.sampler == "ddpm";
  const auto ts = diffusion::sampling_timesteps(config_.timesteps, ddpm ? config_.timesteps : o.steps);
  const double eta = ddpm ? 1.0 : o.eta;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const int t = ts[i];
    const double ab = alpha_bar_[static_cast<std::size_t>(t)];
    const double ab_prev = i + 1 < ts.size() ? alpha_bar_[static_cast<std::size_t>(ts[i + 1])] : 1.0;
    const int jumps = inpaint ? std::max(1, o.resample_jumps) : 1;
    for (int r = 0; r < jumps; ++r) {
      auto tt = torch::full({B}, t, torch::TensorOptions().dtype(torch::kLong).device(device_));
      auto out = predict(x, tt, c, o.guidance);
      torch::Tensor x0;
      if (config_.parametrization == "eps") {
        x0 = (x - std::sqrt(1 - ab) * out) / std::sqrt(ab);
      } else {
        x0 = std::sqrt(ab) * x - std::sqrt(1 - ab) * out;
      }
      x0 = x0.clamp(-1, 1);
      auto eps = (x - std::sqrt(ab) * x0) / std::sqrt(1 - ab);
      const double sigma = eta * std::sqrt((1 - ab_prev) / (1 - ab)) * std::sqrt(std::max(0.0, 1 - ab / ab_prev));
      x = std::sqrt(ab_prev) * x0 + std::sqrt(std::max(0.0, 1 - ab_prev - sigma * sigma)) * eps;
      if (sigma > 0) x = x + sigma * per_sample_noise(gens, shape, device_);
      if (inpaint) {
        // RePaint: the known region follows the real image, noised to the new timestep.
        auto noised = std::sqrt(ab_prev) * known + std::sqrt(1 - ab_prev) * per_sample_noise(gens, shape, device_);
        x = mask * x + (1 - mask) * noised;
        if (r + 1 < jumps) {
          // Resampling: diffuse back to t and denoise again, harmonising the two regions.
          x = std::sqrt(ab / ab_prev) * x + std::sqrt(1 - ab / ab_prev) * per_sample_noise(gens, shape, device_);
        }
      }
    }
  }
  if (inpaint) x = mask * x + (1 - mask) * known;  // outside the mask: exactly the input
  return x.clamp(-1, 1);
}

torch::Tensor DdpmModel::encode(const torch::Tensor& image, const Condition& c, const SampleOptions& o) {
  check_condition(c);
  torch::NoGradGuard ng;
  ema_->eval();
  auto ts = diffusion::sampling_timesteps(config_.timesteps, o.steps);
  std::reverse(ts.begin(), ts.end());  // ascending: from the image towards noise
  auto x = image.to(device_, torch::kFloat);
  const auto B = x.size(0);
  for (std::size_t i = 0; i < ts.size(); ++i) {
    // The network sees x at the level it is at; the first step starts from the clean image and
    // asks the lowest timestep (DDIM inversion's usual approximation).
    const int t_in = i == 0 ? ts[0] : ts[i - 1];
    const double ab_in = alpha_bar_[static_cast<std::size_t>(t_in)];
    const double ab_next = alpha_bar_[static_cast<std::size_t>(ts[i])];
    auto tt = torch::full({B}, t_in, torch::TensorOptions().dtype(torch::kLong).device(device_));
    auto out = predict(x, tt, c, o.guidance);
    // ε from the output: ε itself, or from v = sqrt(ab) ε - sqrt(1 - ab) x0 at the level ab_in.
    auto eps = config_.parametrization == "eps" ? out : std::sqrt(1 - ab_in) * x + std::sqrt(ab_in) * out;
    auto x0 = i == 0 ? x : ((x - std::sqrt(1 - ab_in) * eps) / std::sqrt(ab_in)).clamp(-1, 1);
    x = std::sqrt(ab_next) * x0 + std::sqrt(1 - ab_next) * eps;
  }
  return x;
}

void DdpmModel::save(torch::serialize::OutputArchive& archive) {
  save_parameters(archive, "model", *net_);
  save_parameters(archive, "ema", *ema_);
  archive.write("ema_updates", torch::tensor(ema_updates_));
  save_optimizer(archive, "optimizer", optimizer_.get());
}

void DdpmModel::load(torch::serialize::InputArchive& archive) {
  load_parameters(archive, "model", *net_);
  load_parameters(archive, "ema", *ema_);
  torch::Tensor n;
  archive.read("ema_updates", n);
  ema_updates_ = n.item<std::int64_t>();
  load_optimizer(archive, "optimizer", optimizer_.get());
}

std::vector<torch::Tensor> DdpmModel::weights() { return net_->parameters(); }

std::int64_t DdpmModel::parameter_count() {
  std::int64_t n = 0;
  for (const auto& p : net_->parameters()) n += p.numel();
  return n;
}

}  // namespace medsynth::modules
