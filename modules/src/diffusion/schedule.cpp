#include "medsynth/modules/diffusion/schedule.h"

#include <cmath>

#include "medsynth/modules/diffusion/noise_schedule.h"
#include "medsynth/modules/generative_model.h"

namespace medsynth::modules::diffusion {

Schedule::Schedule(const std::string& parametrization, const std::string& schedule, int timesteps)
    : parametrization_(parametrization), timesteps_(timesteps) {
  if (parametrization != "eps" && parametrization != "v" && parametrization != "flow") {
    throw Error("model.parametrization '" + parametrization + "' is not eps, v or flow", ExitCode::kUsage);
  }
  alpha_bar_ = alphas_cumprod(schedule, timesteps);  // also checks the schedule's name and length
  std::vector<float> ab(alpha_bar_.begin(), alpha_bar_.end());
  alpha_bar_t_ = torch::tensor(ab);
}

Schedule::Draw Schedule::draw(at::Generator& gen, std::int64_t count) const {
  Draw d;
  if (is_flow()) {
    auto t = torch::rand({count}, gen, torch::kFloat);
    d.a = 1 - t;
    d.s = t;
    d.t_net = t * static_cast<float>(timesteps_ - 1);
  } else {
    auto t = torch::randint(0, timesteps_, {count}, gen, torch::kLong);
    auto ab = alpha_bar_t_.index_select(0, t);
    d.a = ab.sqrt();
    d.s = (1 - ab).sqrt();
    d.t_net = t.to(torch::kFloat);
  }
  return d;
}

torch::Tensor Schedule::target(const torch::Tensor& x0, const torch::Tensor& noise, const torch::Tensor& a,
                               const torch::Tensor& s) const {
  if (parametrization_ == "eps") return noise;
  if (parametrization_ == "v") return a * noise - s * x0;
  return noise - x0;  // flow: the velocity dx/dt of x_t = (1 - t) x0 + t ε
}

std::pair<torch::Tensor, torch::Tensor> Schedule::split(const torch::Tensor& x, const torch::Tensor& out,
                                                        const Level& l) const {
  if (parametrization_ == "eps") return {(x - l.s * out) / l.a, out};
  if (parametrization_ == "v") return {l.a * x - l.s * out, l.s * x + l.a * out};  // a² + s² = 1
  return {x - l.s * out, x + l.a * out};                                           // a + s = 1
}

Level Schedule::level(int t) const {
  const double ab = alpha_bar_.at(static_cast<std::size_t>(t));
  return {std::sqrt(ab), std::sqrt(1 - ab), static_cast<double>(t)};
}

std::vector<Level> Schedule::levels(int steps) const {
  std::vector<Level> out;
  if (is_flow()) {
    steps = std::max(1, steps);
    for (int i = 0; i < steps; ++i) {
      const double t = 1.0 - static_cast<double>(i) / steps;
      out.push_back({1 - t, t, t * (timesteps_ - 1)});
    }
  } else {
    for (int t : sampling_timesteps(timesteps_, steps)) out.push_back(level(t));
  }
  out.push_back({1, 0, 0});
  return out;
}

}  // namespace medsynth::modules::diffusion
