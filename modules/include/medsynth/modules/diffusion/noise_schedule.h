#pragma once
// Variance schedules for diffusion: linear (Ho et al. 2020) and cosine (Nichol & Dhariwal 2021).
#include <string>
#include <vector>

namespace medsynth::modules::diffusion {

// alpha-bar (cumulative product of 1 - beta) for t = 0..timesteps-1.
std::vector<double> alphas_cumprod(const std::string& schedule, int timesteps);

// The timesteps a sampler visits, descending: all of them (DDPM) or an even subset (DDIM).
std::vector<int> sampling_timesteps(int timesteps, int steps);

}  // namespace medsynth::modules::diffusion
