#pragma once
// A 2-D image (one slice of a volume) and its optional mask: the unit that every metric here
// works on. Slices are taken along the third index axis ("axial" for the RAS/LPS volumes that
// medsynth ingests), because medsynth's generative models are 2-D.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "medsynth/io/volume.h"

namespace medsynth::validation {

struct Slice {
  std::size_t width = 0;   // first index axis (x)
  std::size_t height = 0;  // second index axis (y)
  std::vector<float> pixels;  // x fastest

  std::size_t size() const { return width * height; }
  float at(std::size_t x, std::size_t y) const { return pixels[x + width * y]; }
};

// 1 inside, 0 outside; same width and height as the slice it masks.
struct SliceMask {
  std::size_t width = 0;
  std::size_t height = 0;
  std::vector<std::uint8_t> inside;

  std::size_t count() const;
};

// Slice k of a volume along the third index axis.
Slice slice_of(const io::Volume& v, std::size_t k);
std::vector<Slice> slices_of(const io::Volume& v);
// A mask volume's slice k: a voxel is inside when it is non-zero.
SliceMask mask_slice_of(const io::Volume& mask, std::size_t k);

// True when the slice has at least two different finite values (a constant slice has no
// correlation, and its SSIM is only defined through the stabilising constants).
bool is_nonconstant(const Slice& s);

}  // namespace medsynth::validation
