#pragma once
// Feature extractors for the distribution metrics: one feature vector per slice.
//  - RadiomicsFeatureExtractor: intensity-histogram moments and GLCM texture features (ITK).
//  - EmbeddingFeatureExtractor: any encoder given as a function; the trained VAE's encoder
//    (modules/, LibTorch) plugs in here once it exists, without validation linking LibTorch.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "medsynth/validation/distribution_metrics.h"
#include "medsynth/validation/slice.h"

namespace medsynth::validation {

class FeatureExtractor {
 public:
  virtual ~FeatureExtractor() = default;
  virtual std::string name() const = 0;
  virtual std::vector<std::string> feature_names() const = 0;
  // One vector of feature_names().size() values; mask (may be null) selects the pixels used.
  virtual std::vector<double> extract(const Slice& slice, const SliceMask* mask) const = 0;
  // Whether extract() may run on several threads at once.
  virtual bool thread_safe() const { return true; }
};

struct RadiomicsOptions {
  // Fixed intensity window shared by every set compared (the real volume's data range), so a
  // grey level means the same in real and synthetic slices. Values outside are clamped.
  double low = 0, high = 1;
  unsigned glcm_levels = 32;  // grey levels of the co-occurrence matrix
  unsigned histogram_bins = 32;
};

// 8 histogram features (mean, standard deviation, skewness, excess kurtosis, entropy, 10th,
// 50th, 90th percentile; intensities in units of the window) and 8 GLCM features from ITK's
// ScalarImageToTextureFeaturesFilter (energy, entropy, correlation, inverse difference moment,
// inertia, cluster shade, cluster prominence, Haralick correlation of one co-occurrence matrix
// summed over the 4 in-plane offsets at distance 1), over the masked pixels (all without a mask).
class RadiomicsFeatureExtractor : public FeatureExtractor {
 public:
  explicit RadiomicsFeatureExtractor(const RadiomicsOptions& options) : options_(options) {}
  std::string name() const override { return "radiomics"; }
  std::vector<std::string> feature_names() const override;
  std::vector<double> extract(const Slice& slice, const SliceMask* mask) const override;

 private:
  RadiomicsOptions options_;
};

// An encoder as a function from a slice to its embedding (e.g. the VAE encoder's latent mean,
// flattened). The mask is ignored: encoders see whole slices as in training.
class EmbeddingFeatureExtractor : public FeatureExtractor {
 public:
  using Encoder = std::function<std::vector<float>(const Slice&)>;
  EmbeddingFeatureExtractor(std::string name, std::size_t dimensions, Encoder encoder, bool thread_safe = false)
      : name_(std::move(name)), dimensions_(dimensions), encoder_(std::move(encoder)), thread_safe_(thread_safe) {}
  std::string name() const override { return name_; }
  std::vector<std::string> feature_names() const override;
  std::vector<double> extract(const Slice& slice, const SliceMask* mask) const override;
  bool thread_safe() const override { return thread_safe_; }

 private:
  std::string name_;
  std::size_t dimensions_;
  Encoder encoder_;
  bool thread_safe_;
};

// Features of every slice (rows in order); masks, when given, has one mask per slice.
FeatureMatrix extract_features(const FeatureExtractor& extractor, const std::vector<Slice>& slices,
                               const std::vector<SliceMask>* masks = nullptr, unsigned threads = 0);

}  // namespace medsynth::validation
