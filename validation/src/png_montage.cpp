// The only file that includes VTK: montages as PNG through VTK's imaging pipeline.
#include "medsynth/validation/png_montage.h"

#include <vtkImageAppend.h>
#include <vtkImageData.h>
#include <vtkImageMagnify.h>
#include <vtkImageMapToColors.h>
#include <vtkLookupTable.h>
#include <vtkNew.h>
#include <vtkPNGWriter.h>
#include <vtkSmartPointer.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "medsynth/error.h"

namespace medsynth::validation {
namespace {

vtkSmartPointer<vtkLookupTable> lookup_table(Colormap map, double low, double high) {
  auto lut = vtkSmartPointer<vtkLookupTable>::New();
  lut->SetNumberOfTableValues(256);
  lut->SetRange(low, high > low ? high : low + 1);
  for (int i = 0; i < 256; ++i) {
    const double t = i / 255.0;
    if (map == Colormap::kGrey) {
      lut->SetTableValue(i, t, t, t, 1.0);
    } else {
      // "hot": black -> red -> yellow -> white, so small differences stay dark.
      lut->SetTableValue(i, std::min(1.0, 3 * t), std::clamp(3 * t - 1, 0.0, 1.0), std::clamp(3 * t - 2, 0.0, 1.0), 1.0);
    }
  }
  return lut;
}

// One panel as an RGB vtkImageData (VTK's y axis points up, so row 0 of the slice is written
// last by the PNG writer: the slice is flipped here to keep its first row at the top).
vtkSmartPointer<vtkImageData> panel_image(const MontagePanel& p) {
  auto img = vtkSmartPointer<vtkImageData>::New();
  const int w = static_cast<int>(p.slice.width), h = static_cast<int>(p.slice.height);
  img->SetDimensions(w, h, 1);
  img->AllocateScalars(VTK_FLOAT, 1);
  auto* dst = static_cast<float*>(img->GetScalarPointer());
  for (int y = 0; y < h; ++y)
    std::copy_n(p.slice.pixels.data() + static_cast<std::size_t>(y) * p.slice.width, w,
                dst + static_cast<std::size_t>(h - 1 - y) * static_cast<std::size_t>(w));
  vtkNew<vtkImageMapToColors> map;
  map->SetInputData(img);
  map->SetLookupTable(lookup_table(p.colormap, p.low, p.high));
  map->SetOutputFormatToRGB();
  map->Update();
  auto out = vtkSmartPointer<vtkImageData>::New();
  out->DeepCopy(map->GetOutput());
  return out;
}

vtkSmartPointer<vtkImageData> gap_image(int height) {
  auto img = vtkSmartPointer<vtkImageData>::New();
  img->SetDimensions(4, height, 1);
  img->AllocateScalars(VTK_UNSIGNED_CHAR, 3);
  auto* p = static_cast<unsigned char*>(img->GetScalarPointer());
  std::fill(p, p + 4 * height * 3, static_cast<unsigned char>(40));
  return img;
}

}  // namespace

Slice display_oriented(const Slice& s, const io::Geometry& g) {
  // LPS: +x is the patient's left, +y posterior. Column 0 of the index axes is x, column 1 is y.
  const bool i_points_right = g.dir(0, 0) < 0;     // flip so the patient's left is on the right
  const bool j_points_anterior = g.dir(1, 1) < 0;  // flip so anterior is at the top
  Slice out = s;
  for (std::size_t y = 0; y < s.height; ++y)
    for (std::size_t x = 0; x < s.width; ++x) {
      const std::size_t sx = i_points_right ? s.width - 1 - x : x;
      const std::size_t sy = j_points_anterior ? s.height - 1 - y : y;
      out.pixels[x + s.width * y] = s.pixels[sx + s.width * sy];
    }
  return out;
}

void write_montage_png(const std::vector<MontagePanel>& panels, const std::string& path, int min_height) {
  if (panels.empty()) throw Error("montage " + path + ": no panel");
  vtkNew<vtkImageAppend> append;
  append->SetAppendAxis(0);
  const int h = static_cast<int>(panels.front().slice.height);
  for (std::size_t i = 0; i < panels.size(); ++i) {
    if (panels[i].slice.height != panels.front().slice.height) throw Error("montage " + path + ": panels differ in height");
    if (i) append->AddInputData(gap_image(h));
    append->AddInputData(panel_image(panels[i]));
  }
  vtkNew<vtkImageMagnify> magnify;
  magnify->SetInputConnection(append->GetOutputPort());
  const int factor = std::max(1, (min_height + h - 1) / std::max(h, 1));
  magnify->SetMagnificationFactors(factor, factor, 1);
  magnify->InterpolateOff();  // nearest neighbour: pixels stay pixels
  const std::string tmp = path + ".tmp.png";
  vtkNew<vtkPNGWriter> writer;
  writer->SetInputConnection(magnify->GetOutputPort());
  writer->SetFileName(tmp.c_str());
  writer->Write();
  if (writer->GetErrorCode() != 0 || !std::filesystem::exists(tmp)) {
    std::remove(tmp.c_str());
    throw Error(path + ": writing the PNG failed");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace medsynth::validation
