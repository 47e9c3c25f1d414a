#pragma once
// The forward process of a diffusion model, x_t = a(t) x0 + s(t) ε, and what the network predicts:
// ε (Ho et al. 2020), v = a ε − s x0 (Salimans & Ho 2022) on a variance-preserving schedule
// (linear or cosine alpha-bar, a = sqrt(ᾱ), s = sqrt(1 − ᾱ)), or the velocity ε − x0 of rectified
// flow (Liu et al. 2023; Lipman et al. 2023), where a = 1 − t, s = t for t in [0, 1].
// The network may instead predict the clean image x0 (`predict = image`, the x-prediction of
// Li & He 2025, "Back to Basics: Let Denoising Generative Models Denoise"): its output is turned
// into the parametrization's target by `output`, so the loss and the samplers stay as they are,
// and the network never has to copy the input noise through to its output (an ε/velocity
// network that copies it imperfectly leaves a grain on every sample). `predict = edm` mixes the two
// by noise level with Karras et al. 2022's preconditioning (EDM): the output is c_skip x + c_out F,
// the image itself at high noise and a correction to the input at low noise, so the network
// neither copies the noise through (grain) nor the image (blur).
// Training times are uniform or logit-normal (`time_sampling`; Esser et al. 2024, SD3).
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
  // parametrization: eps | v | flow; schedule: linear | cosine (unused by flow); timesteps >= 2;
  // predict: target | image | edm; time_sampling: uniform | logit_normal.
  Schedule(const std::string& parametrization, const std::string& schedule, int timesteps,
           const std::string& predict = "target", const std::string& time_sampling = "uniform");

  const std::string& parametrization() const { return parametrization_; }
  bool is_flow() const { return parametrization_ == "flow"; }
  const std::string& predict() const { return predict_; }
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
  // The network's raw output as the parametrization's target: itself, or (predict = image, edm)
  // the target implied by the predicted x0 at x = a x0 + s ε. In training s is floored (image:
  // at 0.05, so the implied loss weight 1/s² stays bounded, as Li & He clip it; edm: at 1e-3); a
  // sampler's levels use it exactly.
  torch::Tensor output(const torch::Tensor& x, const torch::Tensor& net_out, const torch::Tensor& a,
                       const torch::Tensor& s) const;
  torch::Tensor output(const torch::Tensor& x, const torch::Tensor& net_out, const Level& level) const;
  // (x0, ε) from the network's output (in target form) at a level.
  std::pair<torch::Tensor, torch::Tensor> split(const torch::Tensor& x, const torch::Tensor& out, const Level& level) const;

  // The levels a sampler walks, from noise towards the image: `steps` levels spread evenly (all
  // `timesteps` for DDPM), followed by the clean end (a = 1, s = 0) that the last step lands on.
  std::vector<Level> levels(int steps) const;
  // The level of discrete timestep t (eps/v).
  Level level(int t) const;

 private:
  std::string parametrization_;
  int timesteps_;
  std::string predict_;
  bool logit_normal_ = false;
  std::vector<double> alpha_bar_;
  torch::Tensor alpha_bar_t_;  // CPU float
};

}  // namespace medsynth::modules::diffusion
