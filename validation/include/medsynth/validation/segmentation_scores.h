#pragma once
// Dice of a segmentation against its reference over a set of test slices, per class and as the
// mean over the foreground classes, with percentile bootstrap 95% intervals obtained by resampling
// the slices (the unit that varies between test sets) with replacement. Dice is pooled over the
// slices of a (re)sample: 2 sum|A∩B| / (sum|A| + sum|B|), so slices without a class count for it
// (their false positives) instead of giving 0/0.
#include <cstdint>
#include <vector>

namespace medsynth::validation {

struct ClassScore {
  int id = 0;                      // class id (0 .. classes-1)
  double dice = 0;                 // NaN when the class is in neither map
  double lo = 0, hi = 0;           // bootstrap 95% interval
  double prevalence = 0;           // fraction of reference pixels of the class: chance Dice
};

struct SegmentationScores {
  std::vector<ClassScore> classes;   // foreground classes 1 .. classes-1
  double mean_dice = 0, lo = 0, hi = 0;  // mean over the foreground classes, with its interval
  double chance_mean_dice = 0;       // the mean Dice of labels drawn at random with the reference's frequencies
  std::size_t slices = 0, pixels = 0;
  int bootstrap = 0;
};

// `truth` and `prediction`: `slices` x `pixels_per_slice` class ids in [0, classes). Throws
// medsynth::Error when sizes disagree or an id is out of range.
SegmentationScores score_segmentation(const std::vector<std::uint8_t>& truth, const std::vector<std::uint8_t>& prediction,
                                      std::size_t slices, std::size_t pixels_per_slice, int classes, int bootstrap,
                                      std::uint64_t seed);

}  // namespace medsynth::validation
