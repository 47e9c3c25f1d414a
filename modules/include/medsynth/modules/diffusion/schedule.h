#pragma once
// The forward process of a diffusion model, x_t = a(t) x0 + s(t) ε, and what the network predicts:
// ε (Ho et al. 2020), v = a ε − s x0 (Salimans & Ho 2022) on a variance-preserving schedule
// (linear or cosine alpha-bar, a = sqrt(ᾱ), s = sqrt(1 − ᾱ)), or the velocity ε − x0 of rectified
// flow (Liu et al. 2023; Lipman et al. 2023), where a = 1 − t, s = t for t in [0, 1].
// Every family that diffuses (ddpm, ldm) trains and samples through this one type.
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace medsynth::modules::diffusion {

// One noise level a sampler visits: the coefficients and the time the network is given.
struct Level {
  double a = 1, s = 0;  // x = a x0 + s ε
  double t_net = 0;     // timestep input of the network (0 .. timesteps-1; flow: t (timesteps-1))
};

class Schedule {
 public:
  // parametrization: eps | v | flow; schedule: linear | cosine (unused by flow); timesteps >= 2.
  Schedule(const std::string& parametrization, const std::string& schedule, int timesteps);

  const std::string& parametrization() const { return parametrization_; }
  bool is_flow() const { return parametrization_ == "flow"; }
  int timesteps() const { return timesteps_; }

  // Training: a time per sample of a global batch of `count` (discrete for eps/v, uniform in
  // [0, 1] for flow), drawn from `generator`; the network times and the coefficients [count].
  struct Draw {
    torch::Tensor t_net, a, s;
  };
  Draw draw(at::Generator& generator, std::int64_t count) const;
  // The regression target for the network's output.
  torch::Tensor target(const torch::Tensor& x0, const torch::Tensor& noise, const torch::Tensor& a,
                       const torch::Tensor& s) const;
  // (x0, ε) from the network's output at a level.
  std::pair<torch::Tensor, torch::Tensor> split(const torch::Tensor& x, const torch::Tensor& out, const Level& level) const;

  // The levels a sampler walks, from noise towards the image: `steps` levels spread evenly (all
  // `timesteps` for DDPM), followed by the clean end (a = 1, s = 0) that the last step lands on.
  std::vector<Level> levels(int steps) const;
  // The level of discrete timestep t (eps/v).
  Level level(int t) const;

 private:
  std::string parametrization_;
  int timesteps_;
  std::vector<double> alpha_bar_;
  torch::Tensor alpha_bar_t_;  // CPU float
};

}  // namespace medsynth::modules::diffusion
