#include "medsynth/modules/diffusion/schedule.h"

#include <algorithm>
#include <cmath>

#include "medsynth/modules/diffusion/noise_schedule.h"
#include "medsynth/modules/generative_model.h"

namespace medsynth::modules::diffusion {

Schedule::Schedule(const std::string& parametrization, const std::string& schedule, int timesteps,
                   const std::string& predict, const std::string& time_sampling)
    : parametrization_(parametrization),
      timesteps_(timesteps),
      predict_(predict),
      logit_normal_(time_sampling == "logit_normal") {
  if (parametrization != "eps" && parametrization != "v" && parametrization != "flow") {
    throw Error("model.parametrization '" + parametrization + "' is not eps, v or flow", ExitCode::kUsage);
  }
  if (predict != "target" && predict != "image" && predict != "edm") {
    throw Error("model.predict '" + predict + "' is not target, image or edm", ExitCode::kUsage);
  }
  if (time_sampling != "uniform" && time_sampling != "logit_normal") {
    throw Error("model.time_sampling '" + time_sampling + "' is not uniform or logit_normal", ExitCode::kUsage);
  }
  alpha_bar_ = alphas_cumprod(schedule, timesteps);  // also checks the schedule's name and length
  std::vector<float> ab(alpha_bar_.begin(), alpha_bar_.end());
  alpha_bar_t_ = torch::tensor(ab);
}

Schedule::Draw Schedule::draw(at::Generator& gen, std::int64_t count) const {
  Draw d;
  // u in (0, 1): uniform, or the logistic of a standard normal (SD3's logit-normal, m = 0, s = 1),
  // which puts the training steps at the middle noise levels rather than the ends.
  auto u = logit_normal_ ? torch::sigmoid(torch::randn({count}, gen, torch::kFloat)) : torch::rand({count}, gen, torch::kFloat);
  if (is_flow()) {
    auto t = u;
    d.a = 1 - t;
    d.s = t;
    d.t_net = t * static_cast<float>(timesteps_ - 1);
  } else {
    auto t = logit_normal_ ? (u * timesteps_).floor().clamp(0, timesteps_ - 1).to(torch::kLong)
                           : torch::randint(0, timesteps_, {count}, gen, torch::kLong);
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

namespace {

// The target implied by a predicted image x0 at x = a x0 + s ε (A, S: tensors or numbers).
template <typename A, typename S>
torch::Tensor target_from_image(const std::string& parametrization, const torch::Tensor& x, const torch::Tensor& x0,
                                const A& a, const S& s) {
  auto eps = (x - a * x0) / s;
  if (parametrization == "eps") return eps;
  if (parametrization == "v") return a * eps - s * x0;
  return eps - x0;  // flow: (x - x0) / t
}

using std::sqrt;
using torch::sqrt;

// Karras et al. 2022's preconditioning on x = a x0 + s ε, i.e. x / a = x0 + σ ε with σ = s / a:
// x0 = c_skip x / a + c_out F, c_skip = σd² / (σ² + σd²), c_out = σ σd / sqrt(σ² + σd²); written with
// D = s² + σd² a² so that a = 0 (pure noise) is exact: x0 = (σd² a / D) x + (s σd / sqrt(D)) F.
// The image's spread σd: 0.5, as Karras et al. (slices in [-1, 1], half of them background).
template <typename A, typename S>
torch::Tensor edm_image(const torch::Tensor& x, const torch::Tensor& f, const A& a, const S& s) {
  constexpr double kSigmaData = 0.5, kSigmaData2 = kSigmaData * kSigmaData;
  const auto d = s * s + kSigmaData2 * a * a;
  return (kSigmaData2 * a / d) * x + (s * kSigmaData / sqrt(d)) * f;
}

}  // namespace

torch::Tensor Schedule::output(const torch::Tensor& x, const torch::Tensor& net_out, const torch::Tensor& a,
                               const torch::Tensor& s) const {
  if (predict_ == "target") return net_out;
  if (predict_ == "image") return target_from_image(parametrization_, x, net_out, a, s.clamp_min(0.05));
  // edm: the loss in target space is well scaled at every level (flow: |dv / dF| = σd / sqrt(D)).
  return target_from_image(parametrization_, x, edm_image(x, net_out, a, s), a, s.clamp_min(1e-3));
}

torch::Tensor Schedule::output(const torch::Tensor& x, const torch::Tensor& net_out, const Level& l) const {
  if (predict_ == "target") return net_out;
  const double s = std::max(l.s, 1e-6);
  const auto image = predict_ == "image" ? net_out : edm_image(x, net_out, l.a, s);
  return target_from_image(parametrization_, x, image, l.a, s);
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
