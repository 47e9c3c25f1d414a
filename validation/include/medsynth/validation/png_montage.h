#pragma once
// PNG montages for the report, drawn with VTK's imaging pipeline (vtkImageMapToColors,
// vtkImageAppend, vtkPNGWriter): no window and no display needed. Also the canonical planes
// (axial, sagittal, coronal) of a volume and their display orientation.
#include <array>
#include <string>
#include <vector>

#include "medsynth/io/geometry.h"
#include "medsynth/io/volume.h"
#include "medsynth/validation/slice.h"

namespace medsynth::validation {

enum class Colormap { kGrey, kHot };

struct MontagePanel {
  Slice slice;       // already in display orientation (see display_oriented, plane_cut)
  double low = 0;    // value drawn black
  double high = 1;   // value drawn white (grey) or white-hot (hot)
  Colormap colormap = Colormap::kGrey;
};

// Panels side by side, separated by a 4-pixel dark gap, magnified by an integer factor so the
// shorter side is at least `min_height` pixels. Written atomically (temporary name, rename).
void write_montage_png(const std::vector<MontagePanel>& panels, const std::string& path, int min_height = 160);

// Which index axis runs along each physical axis L, P, S (LPS frame, as io::Geometry): the
// choice of canonical_axes() (volume_metrics.h, the same as pipeline's SliceGrid, so "axial"
// here is the plane the models are trained on), with whether that index axis runs the opposite
// way (towards R, A or I). An oblique volume gets the nearest axis-aligned reading.
struct CanonicalAxes {
  std::array<int, 3> index_axis{0, 1, 2};  // index axis along L, P, S
  std::array<bool, 3> flipped{};           // that index axis points to R, A or I
};
CanonicalAxes oriented_axes(const io::Geometry& g);

// The canonical planes, each cut across one physical axis: axial across S, sagittal across L,
// coronal across P.
enum class Plane { kAxial, kSagittal, kCoronal };
const char* plane_name(Plane p);
int plane_normal(Plane p);  // physical axis across the plane: 2 (S), 0 (L) or 1 (P)

// A cut in display orientation with its pixel size. Axial: anterior at the top, the patient's
// left on the right (radiological). Coronal: superior at the top, the patient's left on the
// right. Sagittal: superior at the top, anterior on the left.
struct PlaneCut {
  Slice slice;
  double pixel_width_mm = 1;
  double pixel_height_mm = 1;
};

// The cut through plane p at `index` along the index axis normal to it
// (oriented_axes(v.geometry).index_axis[plane_normal(p)]).
PlaneCut plane_cut(const io::Volume& v, Plane p, std::size_t index);

// A slice along the third index axis (slice_of) turned into the display orientation of the
// plane that axis cuts across (axial for the RAS/LPS volumes medsynth ingests: anterior at the
// top, the patient's left on the right), from the volume's direction matrix.
Slice display_oriented(const Slice& s, const io::Geometry& g);

// The cut with square pixels: the coarser axis repeated (nearest neighbour) so each pixel
// covers the finer spacing, at most 8 times. Montages of anisotropic volumes keep their shape.
Slice square_pixels(const PlaneCut& c);

}  // namespace medsynth::validation
