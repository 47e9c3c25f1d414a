// Distribution metrics on feature vectors of real slices (radiomics with ITK, and an encoder
// plugged in as a function), checked against numpy/scipy implementations of the same papers.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "medsynth/error.h"
#include "medsynth/validation/distribution_metrics.h"
#include "medsynth/validation/feature_extractor.h"
#include "test_util.h"
#include "validation_fixtures.h"

using namespace medsynth;
using namespace medsynth::test;
using namespace medsynth::validation;

namespace {

// Slices with content (k = 30..150 of Colin27 hold the head) of a volume.
std::vector<Slice> head_slices(const io::Volume& v, std::size_t step = 2) {
  std::vector<Slice> out;
  for (std::size_t k = 30; k <= 150; k += step) out.push_back(slice_of(v, k));
  return out;
}

void write_matrix(const FeatureMatrix& m, const std::string& path) {
  std::ofstream out(path);
  out.precision(17);
  for (std::size_t r = 0; r < m.rows; ++r) {
    for (std::size_t c = 0; c < m.cols; ++c) out << (c ? " " : "") << m.at(r, c);
    out << "\n";
  }
}

FeatureMatrix radiomics(const std::vector<Slice>& s) {
  return extract_features(RadiomicsFeatureExtractor(RadiomicsOptions{0, 255, 32, 32}), s);
}

}  // namespace

TEST(DistributionMetric, RadiomicsFiguresMatchScipyAndNumpyReferences) {
  TempDir tmp;
  const io::Volume real = read_ch2();
  FeatureMatrix a = radiomics(head_slices(real, 2));
  FeatureMatrix b = radiomics(head_slices(perturbed(real, 12.0, 3), 3));
  ASSERT_EQ(a.cols, 16u);
  standardise(a, &a, &b);
  write_matrix(a, tmp.str("a.txt"));
  write_matrix(b, tmp.str("b.txt"));
  const double fd = frechet_distance(a, b);
  const MmdResult mm = mmd(a, b);
  const PrecisionRecall pr = precision_recall(a, b, 3);
  const DensityCoverage dc = density_coverage(a, b, 5);
  // The references, written from the papers: FID with scipy.linalg.sqrtm (Heusel 2017's code),
  // unbiased MMD^2 with the median heuristic, and the prdc package's k-NN rules.
  auto p = python(
      "import json, numpy as np, scipy.linalg\n"
      "a = np.loadtxt('" + tmp.str("a.txt") + "'); b = np.loadtxt('" + tmp.str("b.txt") + "')\n"
      "mu1, mu2 = a.mean(0), b.mean(0); s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)\n"
      "covmean = scipy.linalg.sqrtm(s1 @ s2).real\n"
      "fd = float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))\n"
      "def d(x, y): return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))\n"
      "dxx, dyy, dxy = d(a, a), d(b, b), d(a, b)\n"
      "m, n = len(a), len(b)\n"
      "pooled = np.concatenate([dxx[np.triu_indices(m, 1)], dyy[np.triu_indices(n, 1)], dxy.ravel()])\n"
      "sig = np.median(pooled); k = lambda D: np.exp(-D ** 2 / (2 * sig ** 2))\n"
      "kxx, kyy = k(dxx), k(dyy)\n"
      "mmd2 = (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * k(dxy).mean()\n"
      "def radii(D, kk): return np.sort(D, axis=1)[:, kk]\n"
      "rr3, rf3, rr5 = radii(dxx, 3), radii(dyy, 3), radii(dxx, 5)\n"
      "precision = float((dxy <= rr3[:, None]).any(axis=0).mean())\n"
      "recall = float((dxy <= rf3[None, :]).any(axis=1).mean())\n"
      "density = float((dxy <= rr5[:, None]).sum() / (5 * n))\n"
      "coverage = float((dxy.min(axis=1) <= rr5).mean())\n"
      "print(json.dumps(dict(fd=fd, mmd2=float(mmd2), sigma=float(sig), precision=precision, recall=recall,\n"
      "    density=density, coverage=coverage)))\n");
  ASSERT_EQ(p.exit_code, 0) << "python3-scipy reference failed: " << p.err;
  auto j = nlohmann::json::parse(p.out);
  EXPECT_NEAR(fd, j["fd"].get<double>(), 1e-6 * std::max(1.0, j["fd"].get<double>()));
  EXPECT_NEAR(mm.bandwidth, j["sigma"].get<double>(), 1e-9);
  EXPECT_NEAR(mm.mmd2, j["mmd2"].get<double>(), 1e-9);
  EXPECT_DOUBLE_EQ(pr.precision, j["precision"].get<double>());
  EXPECT_DOUBLE_EQ(pr.recall, j["recall"].get<double>());
  EXPECT_NEAR(dc.density, j["density"].get<double>(), 1e-12);
  EXPECT_DOUBLE_EQ(dc.coverage, j["coverage"].get<double>());
  // Heavy noise moves texture: the sets must be told apart.
  EXPECT_GT(fd, 1.0);
  EXPECT_GT(mm.mmd2, 0.0);
}

TEST(DistributionMetric, RadiomicsHistogramFeaturesMatchNumpyAndTextureSeesNoise) {
  TempDir tmp;
  const io::Volume real = read_ch2();
  const Slice s = slice_of(real, 90);
  const RadiomicsFeatureExtractor ex(RadiomicsOptions{0, 255, 32, 32});
  const std::vector<double> f = ex.extract(s, nullptr);
  ASSERT_EQ(f.size(), ex.feature_names().size());
  write_float(real, tmp.str("real.nii"));
  auto p = python(
      "import json, numpy as np, nibabel as nib, scipy.stats\n"
      "v = np.clip(np.asarray(nib.load('" + tmp.str("real.nii") + "').dataobj, dtype=np.float64)[:, :, 90] / 255.0, 0, 1).ravel()\n"
      "h = np.histogram(v, bins=32, range=(0, 1))[0] / v.size; h = h[h > 0]\n"
      "q = [float(np.percentile(v, x, method='lower')) for x in (10, 50, 90)]\n"
      "print(json.dumps([v.mean(), v.std(), scipy.stats.skew(v), scipy.stats.kurtosis(v), float(-(h * np.log2(h)).sum())] + q))\n");
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const auto j = nlohmann::json::parse(p.out);
  for (std::size_t i = 0; i < 8; ++i) EXPECT_NEAR(f[i], j[i].get<double>(), 1e-6) << ex.feature_names()[i];
  // GLCM: noise raises contrast (inertia) and spreads the matrix (lower energy, higher entropy).
  const std::vector<double> g = ex.extract(slice_of(perturbed(real, 20.0, 2), 90), nullptr);
  const auto idx = [&](const std::string& name) {
    const auto names = ex.feature_names();
    return static_cast<std::size_t>(std::find(names.begin(), names.end(), name) - names.begin());
  };
  EXPECT_GT(g[idx("glcm_inertia")], 2 * f[idx("glcm_inertia")]);
  EXPECT_LT(g[idx("glcm_energy")], f[idx("glcm_energy")]);
  EXPECT_GT(g[idx("glcm_entropy")], f[idx("glcm_entropy")]);
}

TEST(DistributionMetric, IdenticalSetsGiveZeroDistanceFullPrecisionRecallAndCoverage) {
  FeatureMatrix a = radiomics(head_slices(read_ch2(), 3));
  FeatureMatrix b = a;
  standardise(a, &a, &b);
  EXPECT_NEAR(frechet_distance(a, b), 0.0, 1e-6);
  EXPECT_LT(mmd(a, b).mmd2, 0.0 + 1e-12);  // unbiased: the identical-set estimate is <= 0
  const PrecisionRecall pr = precision_recall(a, b);
  EXPECT_EQ(pr.precision, 1.0);
  EXPECT_EQ(pr.recall, 1.0);
  const DensityCoverage dc = density_coverage(a, b);
  EXPECT_EQ(dc.coverage, 1.0);
  EXPECT_GT(dc.density, 0.9);
}

TEST(DistributionMetric, JacobiSquareRootOfACovarianceSquaresBack) {
  FeatureMatrix a = radiomics(head_slices(read_ch2(), 2));
  standardise(a, &a, nullptr);
  std::vector<double> mean, cov;
  mean_and_covariance(a, &mean, &cov);
  const std::size_t n = a.cols;
  const std::vector<double> r = symmetric_sqrt(cov, n);
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      double s = 0;
      for (std::size_t k = 0; k < n; ++k) s += r[i * n + k] * r[k * n + j];
      worst = std::max(worst, std::fabs(s - cov[i * n + j]));
    }
  EXPECT_LT(worst, 1e-9);
}

TEST(DistributionMetric, EncoderEmbeddingsPlugInThroughTheExtractorInterface) {
  // A stand-in encoder (8x8 block means, 22x27 values): what the VAE's encoder will provide.
  EmbeddingFeatureExtractor::Encoder blocks = [](const Slice& s) {
    std::vector<float> e;
    for (std::size_t by = 0; by + 8 <= s.height; by += 8)
      for (std::size_t bx = 0; bx + 8 <= s.width; bx += 8) {
        double sum = 0;
        for (std::size_t y = 0; y < 8; ++y)
          for (std::size_t x = 0; x < 8; ++x) sum += s.at(bx + x, by + y);
        e.push_back(static_cast<float>(sum / 64));
      }
    return e;
  };
  const EmbeddingFeatureExtractor enc("blocks8", 22 * 27, blocks, true);
  const io::Volume real = read_ch2();
  io::Volume darker = real;
  for (auto& v : darker.voxels) v *= 0.6f;
  FeatureMatrix r = extract_features(enc, head_slices(real, 4));
  FeatureMatrix noisy = extract_features(enc, head_slices(perturbed(real, 4.0, 5), 4));
  FeatureMatrix dark = extract_features(enc, head_slices(darker, 4));
  EXPECT_EQ(r.names.front(), "blocks8_0");
  const double bw = mmd(r, r).bandwidth;
  // Block means average the noise away but keep a contrast change: MMD sees the darker set.
  EXPECT_LT(mmd(r, noisy, bw).mmd2, mmd(r, dark, bw).mmd2);
  const EmbeddingFeatureExtractor wrong("bad", 3, blocks);
  EXPECT_THROW(extract_features(wrong, head_slices(real, 60)), Error);
}

TEST(DistributionMetric, TooFewSamplesAreRefusedWithACount) {
  FeatureMatrix a;
  a.rows = 1, a.cols = 2, a.data = {1, 2};
  try {
    frechet_distance(a, a);
    FAIL() << "one sample was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("at least 2"), std::string::npos) << e.what();
  }
}
