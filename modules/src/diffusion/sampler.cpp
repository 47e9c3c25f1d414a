#include "medsynth/modules/diffusion/sampler.h"

#include <algorithm>
#include <cmath>

namespace medsynth::modules::diffusion {

void check_sampler(const Schedule& schedule, const std::string& s) {
  if (schedule.is_flow()) {
    if (s != "euler" && s != "heun" && s != "ddim") {
      throw Error("sampler '" + s + "' does not apply to a flow model (model.parametrization = flow): use euler, heun or ddim",
                  ExitCode::kUsage);
    }
  } else if (s != "ddim" && s != "ddpm") {
    throw Error("sampler '" + s + "' does not apply to a " + schedule.parametrization() +
                    "-prediction model: use ddim or ddpm (euler and heun need model.parametrization = flow)",
                ExitCode::kUsage);
  }
}

torch::Tensor sample(const Schedule& schedule, const Denoiser& denoiser, torch::Tensor x, const SampleOptions& o,
                     const std::function<torch::Tensor()>& noise) {
  check_sampler(schedule, o.sampler);
  const bool inpaint = o.mask.defined();
  torch::Tensor known, mask;
  if (inpaint) {
    if (!o.known.defined()) throw Error("inpainting needs the known image", ExitCode::kRuntime);
    known = o.known.to(x.device(), torch::kFloat);
    mask = o.mask.to(x.device(), torch::kFloat);
  }
  // DDPM is DDIM over every timestep with eta = 1 (the posterior variance of Ho et al.).
  const bool ddpm = o.sampler == "ddpm";
  const bool ode = o.sampler == "euler" || o.sampler == "heun";
  const auto levels = schedule.levels(ddpm ? schedule.timesteps() : o.steps);
  const double eta = ddpm ? 1.0 : (ode ? 0.0 : o.eta);
  const int jumps = inpaint ? std::max(1, o.resample_jumps) : 1;
  for (std::size_t i = 0; i + 1 < levels.size(); ++i) {
    const Level& cur = levels[i];
    const Level& next = levels[i + 1];
    for (int r = 0; r < jumps; ++r) {
      auto out = denoiser(x, cur);
      if (ode) {
        // dx/dt = out; t goes from cur.s to next.s (flow: s = t).
        const double dt = next.s - cur.s;
        if (o.sampler == "heun" && next.s > 0) {
          auto x_euler = x + dt * out;
          x = x + dt * 0.5 * (out + denoiser(x_euler, next));
        } else {
          x = x + dt * out;
        }
      } else {
        auto x0 = schedule.split(x, out, cur).first.clamp(-1, 1);
        auto eps = (x - cur.a * x0) / cur.s;
        // DDIM's sigma: eta (s_next / s_cur) sqrt(s_cur^2 - r^2 s_next^2) with r = a_cur / a_next;
        // on a variance-preserving schedule (a^2 + s^2 = 1) that is Song et al.'s
        // sqrt((1 - ab_prev) / (1 - ab)) sqrt(1 - ab / ab_prev), kept in that form there.
        double sigma = 0;
        if (schedule.is_flow()) {
          const double ratio = cur.a / next.a;
          sigma = eta * (next.s / cur.s) * std::sqrt(std::max(0.0, cur.s * cur.s - ratio * ratio * next.s * next.s));
        } else {
          const double var_ratio = (next.s * next.s) / (cur.s * cur.s);
          sigma = eta * std::sqrt(var_ratio) * std::sqrt(std::max(0.0, 1 - (cur.a * cur.a) / (next.a * next.a)));
        }
        x = next.a * x0 + std::sqrt(std::max(0.0, next.s * next.s - sigma * sigma)) * eps;
        if (sigma > 0) x = x + sigma * noise();
      }
      if (inpaint) {
        // RePaint: the known region follows the real image, noised to the new level.
        x = mask * x + (1 - mask) * (next.a * known + next.s * noise());
        if (r + 1 < jumps) {
          // Resampling: diffuse back to the current level and denoise again, harmonising the
          // two regions: x_cur = r x_next + sqrt(s_cur² - r² s_next²) n with r = a_cur / a_next.
          const double ratio = cur.a / next.a;
          x = ratio * x + std::sqrt(std::max(0.0, cur.s * cur.s - ratio * ratio * next.s * next.s)) * noise();
        }
      }
    }
  }
  if (inpaint) x = mask * x + (1 - mask) * known;  // outside the mask: exactly the input
  return x.clamp(-1, 1);
}

torch::Tensor invert(const Schedule& schedule, const Denoiser& denoiser, torch::Tensor x, const SampleOptions& o) {
  auto levels = schedule.levels(o.steps);
  levels.pop_back();                           // the clean end
  std::reverse(levels.begin(), levels.end());  // ascending: from the image towards noise
  if (schedule.is_flow()) {
    // The Euler path of the flow ODE run forwards from t = 0; euler sampling retraces it.
    Level cur{1, 0, 0};
    for (const Level& next : levels) {
      x = x + (next.s - cur.s) * denoiser(x, cur);
      cur = next;
    }
    return x;
  }
  for (std::size_t i = 0; i < levels.size(); ++i) {
    // The network sees x at the level it is at; the first step starts from the clean image and
    // asks the lowest timestep (DDIM inversion's usual approximation).
    const Level& in = levels[i == 0 ? 0 : i - 1];
    const Level& next = levels[i];
    auto [x0, eps] = schedule.split(x, denoiser(x, in), in);
    if (i == 0) {
      x0 = x;
    } else {
      x0 = x0.clamp(-1, 1);
    }
    x = next.a * x0 + next.s * eps;
  }
  return x;
}

}  // namespace medsynth::modules::diffusion
