#include "medsynth/validation/memorisation_check.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "medsynth/error.h"
#include "medsynth/validation/ssim.h"
#include "parallel.h"

namespace medsynth::validation {
namespace {

// Slices as rows of a float matrix, each centred and scaled to unit norm, so that the Pearson
// correlation of two slices is the dot product of their rows.
std::vector<float> unit_rows(const std::vector<Slice>& slices, std::size_t pixels, const std::string& set) {
  std::vector<float> m(slices.size() * pixels);
  for (std::size_t r = 0; r < slices.size(); ++r) {
    const Slice& s = slices[r];
    if (s.size() != pixels) {
      throw Error("memorisation check: " + set + " slice " + std::to_string(r) + " is " + std::to_string(s.width) + "x" +
                      std::to_string(s.height) + ", the other slices have " + std::to_string(pixels) + " pixels",
                  ExitCode::kBadInput);
    }
    double mean = 0;
    for (float v : s.pixels) mean += v;
    mean /= static_cast<double>(pixels);
    double norm = 0;
    for (float v : s.pixels) norm += (v - mean) * (v - mean);
    norm = std::sqrt(norm);
    if (!(norm > 0)) {
      throw Error("memorisation check: " + set + " slice " + std::to_string(r) +
                      " is constant, so its correlation is undefined (select slices with content)",
                  ExitCode::kBadInput);
    }
    float* row = m.data() + r * pixels;
    for (std::size_t i = 0; i < pixels; ++i) row[i] = static_cast<float>((s.pixels[i] - mean) / norm);
  }
  return m;
}

}  // namespace

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double pos = p / 100.0 * static_cast<double>(values.size() - 1);
  const std::size_t i = static_cast<std::size_t>(std::floor(pos));
  const double f = pos - static_cast<double>(i);
  return i + 1 < values.size() ? values[i] + f * (values[i + 1] - values[i]) : values[i];
}

std::vector<NearestTrainingSlice> nearest_training_slices(const std::vector<Slice>& queries,
                                                          const std::vector<Slice>& train, double data_range,
                                                          unsigned threads) {
  if (train.empty()) throw Error("memorisation check: no training slice", ExitCode::kBadInput);
  if (queries.empty()) return {};
  const std::size_t pixels = train.front().size();
  const std::vector<float> t = unit_rows(train, pixels, "training");
  const std::vector<float> q = unit_rows(queries, pixels, "query");
  const std::size_t nq = queries.size(), nt = train.size();
  std::vector<NearestTrainingSlice> best(nq);
  for (std::size_t i = 0; i < nq; ++i) best[i].query = i, best[i].correlation = -2;
  // Blocks of queries keep the correlation matrix small (block x all training slices); sgemm
  // does the pixel loop at BLAS speed (one pass over the training matrix per block).
  const std::size_t block = 256;
  std::vector<float> c(std::min(block, nq) * nt);
  for (std::size_t b0 = 0; b0 < nq; b0 += block) {
    const std::size_t nb = std::min(block, nq - b0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(nb), static_cast<int>(nt),
                static_cast<int>(pixels), 1.0f, q.data() + b0 * pixels, static_cast<int>(pixels), t.data(),
                static_cast<int>(pixels), 0.0f, c.data(), static_cast<int>(nt));
    for (std::size_t i = 0; i < nb; ++i) {
      const float* row = c.data() + i * nt;
      const std::size_t j = static_cast<std::size_t>(std::max_element(row, row + nt) - row);
      best[b0 + i].train = j;
      best[b0 + i].correlation = std::min(1.0, static_cast<double>(row[j]));
    }
  }
  if (data_range > 0) {
    detail::parallel_for(nq, threads, [&](std::size_t i) {
      best[i].ssim = ssim(queries[i], train[best[i].train], SsimOptions{data_range}).ssim;
    });
  }
  return best;
}

MemorisationResult memorisation_check(const std::vector<Slice>& train, const std::vector<Slice>& synthetic,
                                      const std::vector<Slice>& held_out, const MemorisationOptions& options) {
  if (held_out.size() < 2) {
    throw Error("memorisation check: the baseline needs at least 2 held-out real slices (have " +
                    std::to_string(held_out.size()) + ")",
                ExitCode::kBadInput);
  }
  MemorisationResult res;
  res.synthetic = nearest_training_slices(synthetic, train, options.data_range, options.threads);
  res.baseline = nearest_training_slices(held_out, train, options.data_range, options.threads);
  std::vector<double> base;
  for (const auto& b : res.baseline) base.push_back(b.correlation);
  res.threshold = percentile(base, options.percentile);
  std::vector<std::size_t> order(res.synthetic.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return res.synthetic[a].correlation > res.synthetic[b].correlation; });
  for (std::size_t i : order)
    if (res.synthetic[i].correlation > res.threshold) res.flagged.push_back(i);
  for (std::size_t i = 0; i < std::min(options.top, order.size()); ++i) res.top.push_back(res.synthetic[order[i]]);
  return res;
}

}  // namespace medsynth::validation
