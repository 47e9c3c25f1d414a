#pragma once
// Samplers for any diffusion family, apart from the networks: they see a denoiser (the network
// with its conditions and guidance already applied) and a Schedule.
//   ddim   DDIM (Song et al. 2021) with stochasticity eta; x0 clipped to [-1, 1] at every step
//   ddpm   ancestral sampling over every training timestep (DDIM with eta = 1, Ho et al. 2020)
//   euler  first-order ODE steps along a flow model's velocity (rectified flow; 1 call a step)
//   heun   Heun's second-order ODE steps (Karras et al. 2022; 2 calls a step, Euler on the last)
// RePaint inpainting (Lugmayr et al. 2022) and DDIM-style inversion work with every schedule.
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "medsynth/modules/diffusion/schedule.h"
#include "medsynth/modules/generative_model.h"

namespace medsynth::modules::diffusion {

// The network's output (ε, v or velocity) for x at a level.
using Denoiser = std::function<torch::Tensor(const torch::Tensor& x, const Level& level)>;

// Refuses a sampler name the schedule cannot use (usage error naming the ones it can).
void check_sampler(const Schedule& schedule, const std::string& sampler);

// Runs options.sampler from `x` (pure noise, or options.initial) to an image in [-1, 1].
// `noise` draws fresh per-sample noise of x's shape (stochastic steps, RePaint).
torch::Tensor sample(const Schedule& schedule, const Denoiser& denoiser, torch::Tensor x, const SampleOptions& options,
                     const std::function<torch::Tensor()>& noise);

// The deterministic path from an image back to noise in options.steps steps; sample() with
// options.initial and a deterministic sampler walks it back.
torch::Tensor invert(const Schedule& schedule, const Denoiser& denoiser, torch::Tensor x, const SampleOptions& options);

}  // namespace medsynth::modules::diffusion
