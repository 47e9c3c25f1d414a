#pragma once
// PNG montages for the report, drawn with VTK's imaging pipeline (vtkImageMapToColors,
// vtkImageAppend, vtkPNGWriter): no window and no display needed.
#include <string>
#include <vector>

#include "medsynth/io/geometry.h"
#include "medsynth/validation/slice.h"

namespace medsynth::validation {

enum class Colormap { kGrey, kHot };

struct MontagePanel {
  Slice slice;       // already in display orientation (see display_oriented)
  double low = 0;    // value drawn black
  double high = 1;   // value drawn white (grey) or white-hot (hot)
  Colormap colormap = Colormap::kGrey;
};

// Panels side by side, separated by a 4-pixel dark gap, magnified by an integer factor so the
// shorter side is at least `min_height` pixels. Written atomically (temporary name, rename).
void write_montage_png(const std::vector<MontagePanel>& panels, const std::string& path, int min_height = 160);

// A slice flipped for radiological display: anterior at the top, the patient's left on the
// right of the image, from the volume's direction matrix (dominant components).
Slice display_oriented(const Slice& s, const io::Geometry& g);

}  // namespace medsynth::validation
