#pragma once
// Conditioning adherence: does a label-conditioned synthetic image show its condition? The
// synthetic image is segmented the way medsynth makes its tissue conditions (multi-Otsu
// thresholds of the intensities inside the foreground), and each label is compared by Dice.
#include <cstdint>
#include <vector>

#include "medsynth/io/volume.h"

namespace medsynth::validation {

// Multi-Otsu (Liao, Chen & Chung 2001) thresholds splitting `values` into `classes` classes,
// computed exactly like skimage.filters.threshold_multiotsu on float data: a `bins`-bin
// histogram over [min, max], thresholds at bin centres, found here by dynamic programming over
// the bins (the same optimum as skimage's exhaustive search). A value v belongs to class
// count(t <= v) (numpy.digitize). Throws medsynth::Error (kBadInput) when fewer than `classes`
// distinct values exist.
std::vector<double> multi_otsu_thresholds(const std::vector<float>& values, int classes, int bins = 256);

struct LabelDice {
  std::int32_t label = 0;
  double dice = 0;                 // 2|A ∩ B| / (|A| + |B|)
  std::size_t condition_voxels = 0;
  std::size_t segmented_voxels = 0;
};

struct ConditioningAdherence {
  std::vector<std::int32_t> labels;      // foreground labels of the condition, darkest first
  std::vector<LabelDice> synthetic;      // Dice(condition, segmentation of the synthetic image)
  std::vector<LabelDice> real;           // Dice(condition, segmentation of the real image): the ceiling
  std::vector<double> synthetic_thresholds, real_thresholds;
  double mean_dice_synthetic = 0, mean_dice_real = 0;
};

// The condition's foreground (label != 0) is split into as many classes as it has labels, by
// multi-Otsu thresholds of each image's intensities inside that foreground. Class i (darkest
// first) is matched to the label with the i-th lowest mean intensity in the real image. All
// three volumes share one grid (checked by the caller).
ConditioningAdherence conditioning_adherence(const io::LabelVolume& condition, const io::Volume& real,
                                             const io::Volume& synthetic);

}  // namespace medsynth::validation
