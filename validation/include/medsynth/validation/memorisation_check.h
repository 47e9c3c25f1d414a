#pragma once
// Privacy / memorisation check: does a synthetic slice copy a training slice? For each query
// slice, the training slice with the highest Pearson correlation (and the SSIM of that pair).
// Held-out real slices give the baseline: how close real, unseen anatomy comes to the training
// set. A synthetic slice above the baseline's 99th percentile is flagged.
#include <cstddef>
#include <vector>

#include "medsynth/validation/slice.h"

namespace medsynth::validation {

struct NearestTrainingSlice {
  std::size_t query = 0;     // index in the query set
  std::size_t train = 0;     // index of the best-correlated training slice
  double correlation = 0;    // Pearson r over all pixels
  double ssim = 0;           // SSIM of that pair (Gaussian 11x11, the memorisation options' range)
};

// For each query slice the best-correlated training slice. Slices are centred and scaled to
// unit norm, so r is a dot product: one blocked matrix product (OpenBLAS sgemm) over all pairs.
// Every slice must have the same size and be non-constant (throws medsynth::Error otherwise).
std::vector<NearestTrainingSlice> nearest_training_slices(const std::vector<Slice>& queries,
                                                          const std::vector<Slice>& train, double data_range,
                                                          unsigned threads = 0);

struct MemorisationOptions {
  double data_range = 0;    // for the SSIM of the best pairs; > 0
  double percentile = 99;   // of the baseline's best correlations: the flag threshold
  std::size_t top = 8;      // pairs listed in the report
  unsigned threads = 0;
};

struct MemorisationResult {
  std::vector<NearestTrainingSlice> synthetic;  // one per synthetic slice
  std::vector<NearestTrainingSlice> baseline;   // one per held-out real slice
  double threshold = 0;                         // the baseline percentile
  std::vector<std::size_t> flagged;             // indices into `synthetic`, highest r first
  std::vector<NearestTrainingSlice> top;        // the highest-r synthetic pairs
};

MemorisationResult memorisation_check(const std::vector<Slice>& train, const std::vector<Slice>& synthetic,
                                      const std::vector<Slice>& held_out, const MemorisationOptions& options);

// The p-th percentile with linear interpolation (numpy.percentile's default).
double percentile(std::vector<double> values, double p);

}  // namespace medsynth::validation
