#pragma once
// The network's floating-point work, counted from the shapes of the operators that run: every
// convolution (forward and backward, transposed too), matrix product (mm, addmm, bmm, baddbmm:
// linear layers and attention) dispatched on this thread while a MacCounter lives. Elementwise
// work, normalisation and activations are not counted (a few per cent of a U-Net's work).
// Counters nest: each sees the multiply-adds since it was made. docs/performance.md.
#include <cstdint>

#include "medsynth/cost.h"

namespace medsynth::modules {

class MacCounter {
 public:
  MacCounter();
  ~MacCounter();
  MacCounter(const MacCounter&) = delete;
  MacCounter& operator=(const MacCounter&) = delete;
  // Multiply-adds on this thread since construction.
  double macs() const;
  // 2 x multiply-adds / 1e9.
  double gflop() const { return 2.0 * macs() / 1e9; }

 private:
  double start_;
};

// A cost::Meter with a MacCounter: finish() fills in gflop and the count of items (slices of a
// volume, steps of a training run).
class CostMeter {
 public:
  CostMeter() = default;
  cost::ResourceUse finish(std::int64_t items = 0, const char* item = "") const {
    cost::ResourceUse u = meter_.finish();
    u.gflop = macs_.gflop();
    u.items = items;
    u.item = item;
    return u;
  }

 private:
  cost::Meter meter_;
  MacCounter macs_;
};

}  // namespace medsynth::modules
