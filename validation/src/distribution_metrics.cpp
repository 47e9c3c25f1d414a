#include "medsynth/validation/distribution_metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "medsynth/error.h"

namespace medsynth::validation {

void symmetric_eigen(const std::vector<double>& a_in, std::size_t n, std::vector<double>* values,
                     std::vector<double>* vectors) {
  std::vector<double> a = a_in, v(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) v[i * n + i] = 1.0;
  auto A = [&](std::size_t r, std::size_t c) -> double& { return a[r * n + c]; };
  double scale = 0;
  for (double x : a) scale = std::max(scale, std::fabs(x));
  // Cyclic Jacobi: each rotation zeroes one off-diagonal pair; sweeps converge quadratically.
  // It is slower than QR for large n but simple, accurate for small eigenvalues, and the
  // matrices here are covariances of a few dozen to a few hundred features.
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (std::size_t p = 0; p < n; ++p)
      for (std::size_t q = p + 1; q < n; ++q) off += A(p, q) * A(p, q);
    if (off <= 1e-30 * scale * scale || off == 0) break;
    for (std::size_t p = 0; p < n; ++p) {
      for (std::size_t q = p + 1; q < n; ++q) {
        const double apq = A(p, q);
        if (std::fabs(apq) < 1e-300) continue;
        const double theta = (A(q, q) - A(p, p)) / (2 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (std::size_t k = 0; k < n; ++k) {  // columns p, q
          const double akp = A(k, p), akq = A(k, q);
          A(k, p) = c * akp - s * akq;
          A(k, q) = s * akp + c * akq;
        }
        for (std::size_t k = 0; k < n; ++k) {  // rows p, q
          const double apk = A(p, k), aqk = A(q, k);
          A(p, k) = c * apk - s * aqk;
          A(q, k) = s * apk + c * aqk;
        }
        for (std::size_t k = 0; k < n; ++k) {
          const double vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) { return A(i, i) < A(j, j); });
  values->resize(n);
  vectors->assign(n * n, 0.0);
  for (std::size_t c = 0; c < n; ++c) {
    (*values)[c] = A(order[c], order[c]);
    for (std::size_t r = 0; r < n; ++r) (*vectors)[r * n + c] = v[r * n + order[c]];
  }
}

std::vector<double> symmetric_sqrt(const std::vector<double>& a, std::size_t n) {
  std::vector<double> w, v;
  symmetric_eigen(a, n, &w, &v);
  std::vector<double> out(n * n, 0.0);
  for (std::size_t k = 0; k < n; ++k) {
    const double s = std::sqrt(std::max(0.0, w[k]));
    if (s == 0) continue;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) out[i * n + j] += s * v[i * n + k] * v[j * n + k];
  }
  return out;
}

void mean_and_covariance(const FeatureMatrix& m, std::vector<double>* mean, std::vector<double>* cov) {
  const std::size_t d = m.cols;
  mean->assign(d, 0.0);
  for (std::size_t r = 0; r < m.rows; ++r)
    for (std::size_t c = 0; c < d; ++c) (*mean)[c] += m.at(r, c);
  for (auto& x : *mean) x /= static_cast<double>(m.rows);
  cov->assign(d * d, 0.0);
  std::vector<double> centred(d);
  for (std::size_t r = 0; r < m.rows; ++r) {
    for (std::size_t c = 0; c < d; ++c) centred[c] = m.at(r, c) - (*mean)[c];
    for (std::size_t i = 0; i < d; ++i)
      for (std::size_t j = i; j < d; ++j) (*cov)[i * d + j] += centred[i] * centred[j];
  }
  const double denom = m.rows > 1 ? static_cast<double>(m.rows - 1) : 1.0;
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = i; j < d; ++j) (*cov)[j * d + i] = (*cov)[i * d + j] /= denom;
}

namespace {

void require_sets(const FeatureMatrix& a, const FeatureMatrix& b, std::size_t min_rows, const std::string& what) {
  if (a.cols != b.cols) {
    throw Error(what + ": feature sets differ in dimension (" + std::to_string(a.cols) + " vs " +
                    std::to_string(b.cols) + ")",
                ExitCode::kBadInput);
  }
  if (a.rows < min_rows || b.rows < min_rows) {
    throw Error(what + ": needs at least " + std::to_string(min_rows) + " samples in each set (have " +
                    std::to_string(a.rows) + " and " + std::to_string(b.rows) + ")",
                ExitCode::kBadInput);
  }
}

std::vector<double> matmul(const std::vector<double>& a, const std::vector<double>& b, std::size_t n) {
  std::vector<double> c(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 0; k < n; ++k) {
      const double aik = a[i * n + k];
      for (std::size_t j = 0; j < n; ++j) c[i * n + j] += aik * b[k * n + j];
    }
  return c;
}

double squared_distance(const double* x, const double* y, std::size_t d) {
  double s = 0;
  for (std::size_t i = 0; i < d; ++i) s += (x[i] - y[i]) * (x[i] - y[i]);
  return s;
}

// Distances from every row of a to every row of b (rows(a) x rows(b)).
std::vector<double> distances(const FeatureMatrix& a, const FeatureMatrix& b) {
  std::vector<double> d(a.rows * b.rows);
  for (std::size_t i = 0; i < a.rows; ++i)
    for (std::size_t j = 0; j < b.rows; ++j) d[i * b.rows + j] = std::sqrt(squared_distance(a.row(i), b.row(j), a.cols));
  return d;
}

// Distance from each sample to its k-th nearest neighbour in the same set (itself excluded).
std::vector<double> kth_neighbour_radii(const FeatureMatrix& m, int k) {
  const std::vector<double> d = distances(m, m);
  std::vector<double> radii(m.rows), row;
  for (std::size_t i = 0; i < m.rows; ++i) {
    row.clear();
    for (std::size_t j = 0; j < m.rows; ++j)
      if (j != i) row.push_back(d[i * m.rows + j]);
    std::nth_element(row.begin(), row.begin() + (k - 1), row.end());
    radii[i] = row[static_cast<std::size_t>(k - 1)];
  }
  return radii;
}

}  // namespace

double frechet_distance(const FeatureMatrix& a, const FeatureMatrix& b) {
  require_sets(a, b, 2, "Fréchet distance");
  std::vector<double> mu_a, mu_b, s_a, s_b;
  mean_and_covariance(a, &mu_a, &s_a);
  mean_and_covariance(b, &mu_b, &s_b);
  const std::size_t d = a.cols;
  double diff = 0, trace = 0;
  for (std::size_t i = 0; i < d; ++i) diff += (mu_a[i] - mu_b[i]) * (mu_a[i] - mu_b[i]);
  for (std::size_t i = 0; i < d; ++i) trace += s_a[i * d + i] + s_b[i * d + i];
  // Tr((S_a S_b)^1/2) = Tr((S_a^1/2 S_b S_a^1/2)^1/2): the inner matrix is symmetric PSD, so two
  // symmetric eigen-decompositions replace the general (complex) sqrtm of S_a S_b.
  const std::vector<double> ha = symmetric_sqrt(s_a, d);
  std::vector<double> inner = matmul(matmul(ha, s_b, d), ha, d);
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = i + 1; j < d; ++j) inner[i * d + j] = inner[j * d + i] = 0.5 * (inner[i * d + j] + inner[j * d + i]);
  std::vector<double> w, v;
  symmetric_eigen(inner, d, &w, &v);
  double tr_sqrt = 0;
  for (double x : w) tr_sqrt += std::sqrt(std::max(0.0, x));
  return std::max(0.0, diff + trace - 2 * tr_sqrt);
}

MmdResult mmd(const FeatureMatrix& x, const FeatureMatrix& y, double bandwidth) {
  require_sets(x, y, 2, "MMD");
  MmdResult res;
  const std::vector<double> dxx = distances(x, x), dyy = distances(y, y), dxy = distances(x, y);
  if (bandwidth <= 0) {
    std::vector<double> pooled;
    pooled.reserve(dxx.size() / 2 + dyy.size() / 2 + dxy.size());
    for (std::size_t i = 0; i < x.rows; ++i)
      for (std::size_t j = i + 1; j < x.rows; ++j) pooled.push_back(dxx[i * x.rows + j]);
    for (std::size_t i = 0; i < y.rows; ++i)
      for (std::size_t j = i + 1; j < y.rows; ++j) pooled.push_back(dyy[i * y.rows + j]);
    pooled.insert(pooled.end(), dxy.begin(), dxy.end());
    // numpy.median: the mean of the two middle values for an even count.
    const std::size_t n = pooled.size(), mid = n / 2;
    std::nth_element(pooled.begin(), pooled.begin() + static_cast<std::ptrdiff_t>(mid), pooled.end());
    double med = pooled[mid];
    if (n % 2 == 0) med = 0.5 * (med + *std::max_element(pooled.begin(), pooled.begin() + static_cast<std::ptrdiff_t>(mid)));
    bandwidth = med > 0 ? med : 1.0;
  }
  res.bandwidth = bandwidth;
  const double g = 1.0 / (2 * bandwidth * bandwidth);
  auto mean_kernel = [&](const std::vector<double>& d, std::size_t rows, std::size_t cols, bool skip_diagonal) {
    double s = 0;
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = 0; j < cols; ++j) {
        if (skip_diagonal && i == j) continue;
        s += std::exp(-g * d[i * cols + j] * d[i * cols + j]);
      }
    return s / static_cast<double>(skip_diagonal ? rows * (rows - 1) : rows * cols);
  };
  res.mmd2 = mean_kernel(dxx, x.rows, x.rows, true) + mean_kernel(dyy, y.rows, y.rows, true) -
             2 * mean_kernel(dxy, x.rows, y.rows, false);
  return res;
}

PrecisionRecall precision_recall(const FeatureMatrix& real, const FeatureMatrix& fake, int k) {
  require_sets(real, fake, static_cast<std::size_t>(k) + 1, "precision/recall");
  const std::vector<double> r_real = kth_neighbour_radii(real, k), r_fake = kth_neighbour_radii(fake, k);
  const std::vector<double> d = distances(real, fake);  // real x fake
  std::size_t in_real = 0, in_fake = 0;
  for (std::size_t j = 0; j < fake.rows; ++j) {
    for (std::size_t i = 0; i < real.rows; ++i)
      if (d[i * fake.rows + j] <= r_real[i]) {
        ++in_real;
        break;
      }
  }
  for (std::size_t i = 0; i < real.rows; ++i) {
    for (std::size_t j = 0; j < fake.rows; ++j)
      if (d[i * fake.rows + j] <= r_fake[j]) {
        ++in_fake;
        break;
      }
  }
  PrecisionRecall pr;
  pr.k = k;
  pr.precision = static_cast<double>(in_real) / static_cast<double>(fake.rows);
  pr.recall = static_cast<double>(in_fake) / static_cast<double>(real.rows);
  return pr;
}

DensityCoverage density_coverage(const FeatureMatrix& real, const FeatureMatrix& fake, int k) {
  require_sets(real, fake, static_cast<std::size_t>(k) + 1, "density/coverage");
  const std::vector<double> r_real = kth_neighbour_radii(real, k);
  const std::vector<double> d = distances(real, fake);
  std::size_t inside = 0, covered = 0;
  for (std::size_t i = 0; i < real.rows; ++i) {
    bool any = false;
    for (std::size_t j = 0; j < fake.rows; ++j)
      if (d[i * fake.rows + j] <= r_real[i]) ++inside, any = true;
    covered += any ? 1 : 0;
  }
  DensityCoverage dc;
  dc.k = k;
  dc.density = static_cast<double>(inside) / (static_cast<double>(k) * static_cast<double>(fake.rows));
  dc.coverage = static_cast<double>(covered) / static_cast<double>(real.rows);
  return dc;
}

void standardise(const FeatureMatrix& reference, FeatureMatrix* a, FeatureMatrix* b, std::vector<std::string>* dropped) {
  std::vector<double> mean, cov;
  mean_and_covariance(reference, &mean, &cov);
  const std::size_t d = reference.cols;
  std::vector<std::size_t> keep;
  std::vector<double> sd(d);
  for (std::size_t c = 0; c < d; ++c) {
    sd[c] = std::sqrt(std::max(0.0, cov[c * d + c]));
    if (sd[c] > 1e-12 * std::max(1.0, std::fabs(mean[c]))) keep.push_back(c);
    else if (dropped && c < reference.names.size()) dropped->push_back(reference.names[c]);
  }
  for (FeatureMatrix* m : {a, b}) {
    if (!m) continue;
    FeatureMatrix out;
    out.rows = m->rows;
    out.cols = keep.size();
    out.data.reserve(out.rows * out.cols);
    for (std::size_t r = 0; r < m->rows; ++r)
      for (std::size_t c : keep) out.data.push_back((m->at(r, c) - mean[c]) / sd[c]);
    for (std::size_t c : keep)
      if (c < m->names.size()) out.names.push_back(m->names[c]);
    *m = std::move(out);
  }
}

}  // namespace medsynth::validation
