#pragma once
// Pieces every family's training step and sampler share: per-sample random streams, EMA weights,
// and the data-parallel view of a batch (randomness drawn for the global batch, this rank's rows
// taken), so N ranks with batch b train exactly like one process with batch N*b.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "medsynth/modules/generative_model.h"

namespace medsynth::modules {

inline at::Generator make_generator(std::uint64_t seed) { return at::detail::createCPUGenerator(seed); }

// One generator per sample, seeded from options.seeds (or 0..B-1).
std::vector<at::Generator> sample_generators(const SampleOptions& options, std::int64_t count);

// Per-sample noise from per-sample generators (always drawn on the CPU, so a seed gives the same
// noise on every device).
torch::Tensor per_sample_noise(std::vector<at::Generator>& generators, torch::IntArrayRef shape, torch::Device device);

// The start noise of a sampler: per-sample noise, or correlated across samples by the anchors of
// `options` (SampleOptions::anchor_lo/hi/weight); draws from `generators` either way.
torch::Tensor start_noise(const SampleOptions& options, std::vector<at::Generator>& generators, torch::IntArrayRef shape,
                          torch::Device device);

// Rows [offset, offset + B) of a standard normal tensor drawn for the whole global batch.
torch::Tensor batch_randn(at::Generator& generator, torch::IntArrayRef local_shape, const Batch& batch,
                          torch::Device device);

// The batch's (global size, offset): (B, 0) when it is not a data-parallel slice.
std::pair<std::int64_t, std::int64_t> global_extent(const Batch& batch);

// Whether the module's weights record gradients (off while a loss passes through a network it
// must not train, e.g. a generator's loss through the discriminator).
void set_requires_grad(torch::nn::Module& module, bool on);
// to = from, parameter by parameter.
void copy_parameters(torch::nn::Module& from, torch::nn::Module& to);
// EMA step with a warm-up of the decay: min(decay, (1 + n) / (10 + n)) after n updates.
void ema_update(torch::nn::Module& model, torch::nn::Module& ema, double decay, std::int64_t updates);

// The trainer's gradient hook over every parameter gradient of `modules`.
void apply_gradient_hook(const GenerativeModel& model, const std::vector<torch::nn::Module*>& modules);

// The learning rate of every parameter group.
void set_learning_rate(torch::optim::AdamW& optimizer, double lr);
// An optimiser's state as the nested archive `key` (nothing without an optimiser); load_optimizer
// restores it when the archive has it (a checkpoint read for sampling has no optimiser).
void save_optimizer(torch::serialize::OutputArchive& archive, const std::string& key, torch::optim::AdamW* optimizer);
void load_optimizer(torch::serialize::InputArchive& archive, const std::string& key, torch::optim::AdamW* optimizer);

// Writes "<prefix>/<name>" for each parameter; load_parameters checks shapes and names the key.
void save_parameters(torch::serialize::OutputArchive& archive, const std::string& prefix, torch::nn::Module& module);
void load_parameters(torch::serialize::InputArchive& archive, const std::string& prefix, torch::nn::Module& module);

}  // namespace medsynth::modules
