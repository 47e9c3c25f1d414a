#include "medsynth/validation/tissue_segmentation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <string>

#include "medsynth/error.h"

namespace medsynth::validation {

std::vector<double> multi_otsu_thresholds(const std::vector<float>& values, int classes, int bins) {
  if (classes < 2 || bins < classes) throw Error("multi-Otsu: need 2 <= classes <= bins", ExitCode::kBadInput);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (float v : values)
    if (std::isfinite(v)) lo = std::min(lo, static_cast<double>(v)), hi = std::max(hi, static_cast<double>(v));
  const std::size_t nb = static_cast<std::size_t>(bins);
  // numpy.histogram(range=(lo, hi)): equal bins, the last one closed on the right.
  std::vector<double> count(nb, 0.0), centre(nb);
  const double width = (hi - lo) / static_cast<double>(nb);
  for (std::size_t b = 0; b < nb; ++b) centre[b] = lo + (static_cast<double>(b) + 0.5) * width;
  std::size_t total = 0;
  for (float v : values) {
    if (!std::isfinite(v)) continue;
    std::size_t b = width > 0 ? static_cast<std::size_t>((static_cast<double>(v) - lo) / width) : 0;
    count[std::min(b, nb - 1)] += 1;
    ++total;
  }
  const std::size_t nonzero = static_cast<std::size_t>(std::count_if(count.begin(), count.end(), [](double c) { return c > 0; }));
  if (nonzero < static_cast<std::size_t>(classes)) {
    throw Error("multi-Otsu: the image has only " + std::to_string(nonzero) + " different value(s); it cannot be split into " +
                    std::to_string(classes) + " classes",
                ExitCode::kBadInput);
  }
  std::vector<std::size_t> idx;
  if (nonzero == static_cast<std::size_t>(classes)) {
    // skimage: one class per occupied bin, thresholds at all but the last occupied bin.
    for (std::size_t b = 0; b < nb && idx.size() + 1 < static_cast<std::size_t>(classes); ++b)
      if (count[b] > 0) idx.push_back(b);
  } else {
    // Between-class variance up to a constant is sum_k S_k^2 / P_k over classes of consecutive
    // bins (P: probability, S: first moment in bin units). It is additive over classes, so the
    // best split of bins [0, j] into c classes is a dynamic programme over j and c.
    std::vector<double> P(nb + 1, 0.0), S(nb + 1, 0.0);
    for (std::size_t b = 0; b < nb; ++b) {
      const double p = count[b] / static_cast<double>(total);
      P[b + 1] = P[b] + p;
      S[b + 1] = S[b] + static_cast<double>(b) * p;
    }
    auto cost = [&](std::size_t i, std::size_t j) {  // bins i..j inclusive
      const double p = P[j + 1] - P[i], s = S[j + 1] - S[i];
      return p > 0 ? s * s / p : 0.0;
    };
    const std::size_t K = static_cast<std::size_t>(classes);
    const double neg = -std::numeric_limits<double>::infinity();
    std::vector<std::vector<double>> best(K, std::vector<double>(nb, neg));
    std::vector<std::vector<std::size_t>> arg(K, std::vector<std::size_t>(nb, 0));
    for (std::size_t j = 0; j < nb; ++j) best[0][j] = cost(0, j);
    for (std::size_t c = 1; c < K; ++c)
      for (std::size_t j = c; j < nb; ++j)
        for (std::size_t i = c - 1; i < j; ++i) {  // class c covers bins i+1..j
          const double v = best[c - 1][i] + cost(i + 1, j);
          if (v > best[c][j]) best[c][j] = v, arg[c][j] = i;
        }
    idx.assign(K - 1, 0);
    std::size_t j = nb - 1;
    for (std::size_t c = K - 1; c >= 1; --c) {
      idx[c - 1] = arg[c][j];
      j = arg[c][j];
    }
  }
  std::vector<double> t;
  for (std::size_t i : idx) t.push_back(centre[i]);
  return t;
}

namespace {

int class_of(double v, const std::vector<double>& thresholds) {
  int c = 0;
  for (double t : thresholds) c += t <= v ? 1 : 0;
  return c;
}

std::vector<LabelDice> dice_by_label(const io::LabelVolume& condition, const io::Volume& image,
                                     const std::vector<std::int32_t>& labels, std::vector<double>* thresholds) {
  std::vector<float> fg;
  for (std::size_t i = 0; i < condition.voxels.size(); ++i)
    if (condition.voxels[i] != 0) fg.push_back(image.voxels[i]);
  *thresholds = multi_otsu_thresholds(fg, static_cast<int>(labels.size()));
  std::vector<LabelDice> out(labels.size());
  std::vector<std::size_t> both(labels.size(), 0);
  std::map<std::int32_t, std::size_t> slot;
  for (std::size_t i = 0; i < labels.size(); ++i) slot[labels[i]] = i, out[i].label = labels[i];
  for (std::size_t i = 0; i < condition.voxels.size(); ++i) {
    const std::int32_t l = condition.voxels[i];
    if (l == 0) continue;
    const std::size_t seg = static_cast<std::size_t>(class_of(image.voxels[i], *thresholds));
    const std::size_t cond = slot[l];
    ++out[cond].condition_voxels;
    ++out[seg].segmented_voxels;
    if (seg == cond) ++both[cond];
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double denom = static_cast<double>(out[i].condition_voxels + out[i].segmented_voxels);
    out[i].dice = denom > 0 ? 2.0 * static_cast<double>(both[i]) / denom : 0.0;
  }
  return out;
}

double mean_dice(const std::vector<LabelDice>& d) {
  double s = 0;
  for (const auto& x : d) s += x.dice;
  return d.empty() ? 0.0 : s / static_cast<double>(d.size());
}

}  // namespace

ConditioningAdherence conditioning_adherence(const io::LabelVolume& condition, const io::Volume& real,
                                             const io::Volume& synthetic) {
  std::map<std::int32_t, std::pair<double, std::size_t>> sums;  // label -> (real intensity sum, count)
  for (std::size_t i = 0; i < condition.voxels.size(); ++i) {
    const std::int32_t l = condition.voxels[i];
    if (l == 0) continue;
    auto& s = sums[l];
    s.first += real.voxels[i];
    ++s.second;
  }
  if (sums.empty()) throw Error("the label map has no foreground label (every voxel is 0)", ExitCode::kBadInput);
  if (sums.size() < 2) {
    throw Error("the label map has a single foreground label (" + std::to_string(sums.begin()->first) +
                    "): Dice per tissue needs at least two",
                ExitCode::kBadInput);
  }
  ConditioningAdherence res;
  for (const auto& [l, s] : sums) res.labels.push_back(l);
  std::sort(res.labels.begin(), res.labels.end(), [&](std::int32_t a, std::int32_t b) {
    return sums[a].first / static_cast<double>(sums[a].second) < sums[b].first / static_cast<double>(sums[b].second);
  });
  res.synthetic = dice_by_label(condition, synthetic, res.labels, &res.synthetic_thresholds);
  res.real = dice_by_label(condition, real, res.labels, &res.real_thresholds);
  res.mean_dice_synthetic = mean_dice(res.synthetic);
  res.mean_dice_real = mean_dice(res.real);
  return res;
}

}  // namespace medsynth::validation
