#pragma once
// Distribution metrics between two unpaired sets of feature vectors (one row per slice):
// Fréchet distance, MMD, precision/recall and density/coverage. docs/metrics.md defines each.
#include <cstddef>
#include <string>
#include <vector>

namespace medsynth::validation {

// Row-major rows x cols matrix of features.
struct FeatureMatrix {
  std::size_t rows = 0, cols = 0;
  std::vector<double> data;
  std::vector<std::string> names;  // one per column (may be empty)

  const double* row(std::size_t r) const { return data.data() + r * cols; }
  double at(std::size_t r, std::size_t c) const { return data[r * cols + c]; }
};

// Eigen-decomposition of a symmetric n x n matrix (row-major) by cyclic Jacobi rotations:
// values ascending, vectors as the columns of a row-major n x n matrix.
void symmetric_eigen(const std::vector<double>& a, std::size_t n, std::vector<double>* values,
                     std::vector<double>* vectors);
// The symmetric square root of a symmetric positive semi-definite matrix; eigenvalues below 0
// (round-off of a singular covariance) are taken as 0.
std::vector<double> symmetric_sqrt(const std::vector<double>& a, std::size_t n);

// Mean (length cols) and sample covariance (cols x cols, divided by rows - 1),
// as numpy.cov and the FID reference implementations compute it.
void mean_and_covariance(const FeatureMatrix& m, std::vector<double>* mean, std::vector<double>* cov);

// ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2) (Dowson & Landau 1982, the
// FID formula of Heusel et al. 2017). Needs >= 2 rows in each set.
double frechet_distance(const FeatureMatrix& a, const FeatureMatrix& b);

struct MmdResult {
  double mmd2 = 0;       // unbiased estimate of MMD^2 (may be slightly negative)
  double bandwidth = 0;  // sigma of k(x, y) = exp(-||x - y||^2 / (2 sigma^2))
};
// Gretton et al. 2012, unbiased U-statistic. bandwidth <= 0: the median heuristic, the median
// Euclidean distance between all distinct pairs of the pooled sets.
MmdResult mmd(const FeatureMatrix& x, const FeatureMatrix& y, double bandwidth = 0);

struct PrecisionRecall {
  double precision = 0, recall = 0;
  int k = 3;
};
// Kynkäänniemi et al. 2019: precision = share of fake samples inside the real k-NN manifold
// (union of balls around each real sample with radius its distance to its k-th nearest real
// neighbour); recall the same with the roles swapped.
PrecisionRecall precision_recall(const FeatureMatrix& real, const FeatureMatrix& fake, int k = 3);

struct DensityCoverage {
  double density = 0, coverage = 0;
  int k = 5;
};
// Naeem et al. 2020: density = (1 / kM) sum_j sum_i 1[fake_j in B(real_i, NND_k(real_i))];
// coverage = share of real samples whose ball holds at least one fake sample.
DensityCoverage density_coverage(const FeatureMatrix& real, const FeatureMatrix& fake, int k = 5);

// z-scores both sets with the reference set's column mean and standard deviation, dropping
// columns that are constant in the reference set (their names are returned in `dropped`).
// Radiomics features have wildly different units; without this, one feature would dominate.
void standardise(const FeatureMatrix& reference, FeatureMatrix* a, FeatureMatrix* b,
                 std::vector<std::string>* dropped = nullptr);

}  // namespace medsynth::validation
