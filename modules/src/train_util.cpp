#include "medsynth/modules/train_util.h"

#include <algorithm>
#include <cmath>

namespace medsynth::modules {

std::vector<at::Generator> sample_generators(const SampleOptions& o, std::int64_t count) {
  if (!o.seeds.empty() && static_cast<std::int64_t>(o.seeds.size()) != count) {
    throw Error("sample: " + std::to_string(o.seeds.size()) + " seeds for " + std::to_string(count) + " samples",
                ExitCode::kRuntime);
  }
  std::vector<at::Generator> gens;
  for (std::int64_t i = 0; i < count; ++i) {
    gens.push_back(make_generator(o.seeds.empty() ? static_cast<std::uint64_t>(i) : o.seeds[static_cast<std::size_t>(i)]));
  }
  return gens;
}

torch::Tensor per_sample_noise(std::vector<at::Generator>& gens, torch::IntArrayRef shape, torch::Device device) {
  std::vector<torch::Tensor> parts;
  for (auto& g : gens) parts.push_back(torch::randn(shape, g, torch::kFloat));
  return torch::stack(parts).to(device);
}

torch::Tensor start_noise(const SampleOptions& o, std::vector<at::Generator>& gens, torch::IntArrayRef shape,
                          torch::Device device) {
  auto own = per_sample_noise(gens, shape, device);
  if (o.anchor_lo.empty()) return own;
  const auto B = gens.size();
  if (o.anchor_lo.size() != B || o.anchor_hi.size() != B || o.anchor_weight.size() != B) {
    throw Error("sample: one noise anchor pair and weight per sample is needed", ExitCode::kRuntime);
  }
  std::vector<torch::Tensor> parts;
  for (std::size_t i = 0; i < B; ++i) {
    auto lo = make_generator(o.anchor_lo[i]);
    auto hi = make_generator(o.anchor_hi[i]);
    const double w = o.anchor_weight[i] * M_PI / 2;
    parts.push_back(std::cos(w) * torch::randn(shape, lo, torch::kFloat) + std::sin(w) * torch::randn(shape, hi, torch::kFloat));
  }
  const double share = std::clamp(o.anchor_share, 0.0, 1.0);
  return std::sqrt(share) * torch::stack(parts).to(device) + std::sqrt(1 - share) * own;
}

std::pair<std::int64_t, std::int64_t> global_extent(const Batch& b) {
  const auto B = b.size();
  return b.global_size > 0 ? std::make_pair(b.global_size, b.global_offset) : std::make_pair(B, std::int64_t{0});
}

torch::Tensor batch_randn(at::Generator& gen, torch::IntArrayRef local_shape, const Batch& b, torch::Device device) {
  const auto [G, off] = global_extent(b);
  auto shape = local_shape.vec();
  const auto B = shape[0];
  shape[0] = G;
  return torch::randn(shape, gen, torch::kFloat).narrow(0, off, B).to(device);
}

void set_requires_grad(torch::nn::Module& m, bool on) {
  for (auto& p : m.parameters()) p.set_requires_grad(on);
}

void copy_parameters(torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard ng;
  auto src = from.parameters();
  auto dst = to.parameters();
  for (std::size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
}

void ema_update(torch::nn::Module& model, torch::nn::Module& ema, double decay, std::int64_t n) {
  torch::NoGradGuard ng;
  // Warm-up of the decay (as in many diffusion codebases), so short runs do not sample from
  // weights dominated by the initialisation.
  const double d = std::min(decay, (1.0 + static_cast<double>(n)) / (10.0 + static_cast<double>(n)));
  auto src = model.parameters();
  auto dst = ema.parameters();
  for (std::size_t i = 0; i < src.size(); ++i) dst[i].mul_(d).add_(src[i].detach(), 1.0 - d);
}

void apply_gradient_hook(const GenerativeModel& model, const std::vector<torch::nn::Module*>& modules) {
  if (!model.gradient_hook) return;
  std::vector<torch::Tensor> grads;
  for (auto* m : modules) {
    for (auto& p : m->parameters()) {
      if (p.grad().defined()) grads.push_back(p.grad());
    }
  }
  model.gradient_hook(grads);
}

void set_learning_rate(torch::optim::AdamW& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

void save_optimizer(torch::serialize::OutputArchive& archive, const std::string& key, torch::optim::AdamW* optimizer) {
  if (!optimizer) return;
  torch::serialize::OutputArchive opt;
  optimizer->save(opt);
  archive.write(key, opt);
}

void load_optimizer(torch::serialize::InputArchive& archive, const std::string& key, torch::optim::AdamW* optimizer) {
  if (!optimizer) return;
  torch::serialize::InputArchive opt;
  if (archive.try_read(key, opt)) optimizer->load(opt);
}

void save_parameters(torch::serialize::OutputArchive& archive, const std::string& prefix, torch::nn::Module& module) {
  for (const auto& p : module.named_parameters()) archive.write(prefix + "/" + p.key(), p.value());
}

void load_parameters(torch::serialize::InputArchive& archive, const std::string& prefix, torch::nn::Module& module) {
  torch::NoGradGuard ng;
  for (auto& p : module.named_parameters()) {
    torch::Tensor v;
    archive.read(prefix + "/" + p.key(), v);
    if (!v.sizes().equals(p.value().sizes())) {
      throw Error("checkpoint tensor " + prefix + "/" + p.key() + " has another shape than the configured model");
    }
    p.value().copy_(v);
  }
}

}  // namespace medsynth::modules
