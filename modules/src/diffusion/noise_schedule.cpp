#include "medsynth/modules/diffusion/noise_schedule.h"

#include <algorithm>
#include <cmath>

#include "medsynth/modules/generative_model.h"

namespace medsynth::modules::diffusion {

std::vector<double> alphas_cumprod(const std::string& schedule, int T) {
  if (T < 2) throw Error("model.timesteps must be at least 2", ExitCode::kUsage);
  std::vector<double> ab(static_cast<std::size_t>(T));
  if (schedule == "linear") {
    double prod = 1.0;
    for (int t = 0; t < T; ++t) {
      const double beta = 1e-4 + (0.02 - 1e-4) * t / (T - 1);
      prod *= 1.0 - beta;
      ab[static_cast<std::size_t>(t)] = prod;
    }
  } else if (schedule == "cosine") {
    const double s = 0.008;
    auto f = [&](double t) { return std::pow(std::cos((t / T + s) / (1 + s) * M_PI / 2), 2); };
    double prod = 1.0;
    for (int t = 0; t < T; ++t) {
      const double beta = std::min(1.0 - f(t + 1) / f(t), 0.999);
      prod *= 1.0 - beta;
      ab[static_cast<std::size_t>(t)] = prod;
    }
  } else {
    throw Error("model.schedule '" + schedule + "' is not linear or cosine", ExitCode::kUsage);
  }
  return ab;
}

std::vector<int> sampling_timesteps(int T, int steps) {
  steps = std::clamp(steps, 1, T);
  std::vector<int> ts;
  for (int i = 0; i < steps; ++i) {
    // Evenly spaced, always ending at T-1 (pure noise) and reaching low t.
    ts.push_back(static_cast<int>(std::llround(static_cast<double>(T - 1) * (steps - 1 - i) / std::max(1, steps - 1))));
  }
  if (steps == 1) ts = {T - 1};
  ts.erase(std::unique(ts.begin(), ts.end()), ts.end());
  return ts;
}

}  // namespace medsynth::modules::diffusion
