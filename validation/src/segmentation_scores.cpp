#include "medsynth/validation/segmentation_scores.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <tuple>

#include "medsynth/error.h"

namespace medsynth::validation {
namespace {

// Per slice and class: |A∩B|, |A| (prediction), |B| (reference).
struct Counts {
  std::vector<double> both, pred, ref;  // slices x classes
};

double dice_of(double both, double pred, double ref) {
  return pred + ref > 0 ? 2 * both / (pred + ref) : std::numeric_limits<double>::quiet_NaN();
}

// Foreground Dice of the slices `pick` (one entry per slice drawn) and their mean over the
// classes that are defined.
std::vector<double> pooled_dice(const Counts& c, const std::vector<std::size_t>& pick, int classes, double* mean) {
  std::vector<double> both(classes, 0), pred(classes, 0), ref(classes, 0), out;
  for (auto s : pick) {
    for (int k = 0; k < classes; ++k) {
      const std::size_t i = s * static_cast<std::size_t>(classes) + static_cast<std::size_t>(k);
      both[k] += c.both[i];
      pred[k] += c.pred[i];
      ref[k] += c.ref[i];
    }
  }
  double sum = 0;
  int n = 0;
  for (int k = 1; k < classes; ++k) {
    out.push_back(dice_of(both[k], pred[k], ref[k]));
    if (std::isfinite(out.back())) {
      sum += out.back();
      ++n;
    }
  }
  *mean = n > 0 ? sum / n : std::numeric_limits<double>::quiet_NaN();
  return out;
}

// The 2.5% and 97.5% percentiles (linear interpolation, numpy's default) of the finite values.
std::pair<double, double> interval(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto i = static_cast<std::size_t>(std::floor(pos));
    const auto j = std::min(i + 1, v.size() - 1);
    return v[i] + (pos - static_cast<double>(i)) * (v[j] - v[i]);
  };
  return {at(0.025), at(0.975)};
}

}  // namespace

SegmentationScores score_segmentation(const std::vector<std::uint8_t>& truth, const std::vector<std::uint8_t>& prediction,
                                      std::size_t slices, std::size_t pixels, int classes, int bootstrap,
                                      std::uint64_t seed) {
  if (classes < 2) throw medsynth::Error("score_segmentation: at least 2 classes", ExitCode::kRuntime);
  if (truth.size() != slices * pixels || prediction.size() != truth.size() || slices == 0) {
    throw medsynth::Error("score_segmentation: " + std::to_string(truth.size()) + " reference and " +
                              std::to_string(prediction.size()) + " predicted pixels for " + std::to_string(slices) +
                              " slices of " + std::to_string(pixels),
                          ExitCode::kRuntime);
  }
  const auto C = static_cast<std::size_t>(classes);
  Counts c{std::vector<double>(slices * C, 0), std::vector<double>(slices * C, 0), std::vector<double>(slices * C, 0)};
  std::vector<double> total(C, 0);
  for (std::size_t s = 0; s < slices; ++s) {
    for (std::size_t p = 0; p < pixels; ++p) {
      const std::size_t t = truth[s * pixels + p], q = prediction[s * pixels + p];
      if (t >= C || q >= C) throw medsynth::Error("score_segmentation: class id out of range", ExitCode::kRuntime);
      c.ref[s * C + t] += 1;
      c.pred[s * C + q] += 1;
      if (t == q) c.both[s * C + t] += 1;
      total[t] += 1;
    }
  }
  SegmentationScores out;
  out.slices = slices;
  out.pixels = slices * pixels;
  out.bootstrap = bootstrap;
  std::vector<std::size_t> all(slices);
  for (std::size_t s = 0; s < slices; ++s) all[s] = s;
  const auto dice = pooled_dice(c, all, classes, &out.mean_dice);
  // Resampled slice sets: each class's Dice and the mean, from the same draws.
  std::vector<std::vector<double>> boot(C);
  std::vector<double> boot_mean;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> draw(0, slices - 1);
  std::vector<std::size_t> pick(slices);
  for (int b = 0; b < bootstrap; ++b) {
    for (auto& s : pick) s = draw(rng);
    double m = 0;
    const auto d = pooled_dice(c, pick, classes, &m);
    for (std::size_t k = 0; k < d.size(); ++k) boot[k].push_back(d[k]);
    boot_mean.push_back(m);
  }
  double chance = 0;
  int present = 0;
  for (int k = 1; k < classes; ++k) {
    ClassScore cs;
    cs.id = k;
    cs.dice = dice[static_cast<std::size_t>(k - 1)];
    std::tie(cs.lo, cs.hi) = interval(boot[static_cast<std::size_t>(k - 1)]);
    cs.prevalence = total[static_cast<std::size_t>(k)] / static_cast<double>(out.pixels);
    if (cs.prevalence > 0) {
      chance += cs.prevalence;
      ++present;
    }
    out.classes.push_back(cs);
  }
  out.chance_mean_dice = present > 0 ? chance / present : 0;
  std::tie(out.lo, out.hi) = interval(boot_mean);
  return out;
}

}  // namespace medsynth::validation
