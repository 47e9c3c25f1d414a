// The only file that includes VTK: montages as PNG through VTK's imaging pipeline; and the
// canonical planes (which index axis is axial, sagittal, coronal) with their display orientation.
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
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "medsynth/error.h"
#include "medsynth/validation/volume_metrics.h"

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

CanonicalAxes oriented_axes(const io::Geometry& g) {
  CanonicalAxes c;
  c.index_axis = canonical_axes(g);
  for (int a = 0; a < 3; ++a) c.flipped[static_cast<std::size_t>(a)] = g.dir(a, c.index_axis[static_cast<std::size_t>(a)]) < 0;
  return c;
}

const char* plane_name(Plane p) {
  switch (p) {
    case Plane::kAxial: return "axial";
    case Plane::kSagittal: return "sagittal";
    case Plane::kCoronal: return "coronal";
  }
  return "";
}

int plane_normal(Plane p) { return p == Plane::kAxial ? 2 : p == Plane::kSagittal ? 0 : 1; }

namespace {

// Which physical axis (0 L, 1 P, 2 S) runs along the image's columns and rows, and whether it
// runs against them (S reversed: superior at the top).
struct Layout {
  int col, row;
  bool col_reversed, row_reversed;
};

Layout layout_of(Plane p) {
  switch (p) {
    case Plane::kAxial: return {0, 1, false, false};
    case Plane::kCoronal: return {0, 2, false, true};
    case Plane::kSagittal: return {1, 2, false, true};
  }
  return {0, 1, false, false};
}

// The display-oriented cut at `fixed` along the plane's normal index axis of a grid of size n;
// value(idx) reads the voxel at index idx.
template <typename Value>
Slice cut(const CanonicalAxes& c, const std::array<std::size_t, 3>& n, Plane p, std::size_t fixed, Value value) {
  const Layout l = layout_of(p);
  const auto ca = static_cast<std::size_t>(c.index_axis[static_cast<std::size_t>(l.col)]);
  const auto ra = static_cast<std::size_t>(c.index_axis[static_cast<std::size_t>(l.row)]);
  const auto na = static_cast<std::size_t>(c.index_axis[static_cast<std::size_t>(plane_normal(p))]);
  const bool col_back = l.col_reversed != c.flipped[static_cast<std::size_t>(l.col)];
  const bool row_back = l.row_reversed != c.flipped[static_cast<std::size_t>(l.row)];
  Slice out;
  out.width = n[ca];
  out.height = n[ra];
  out.pixels.resize(out.size());
  std::array<std::size_t, 3> idx{};
  idx[na] = fixed;
  for (std::size_t y = 0; y < out.height; ++y) {
    idx[ra] = row_back ? out.height - 1 - y : y;
    for (std::size_t x = 0; x < out.width; ++x) {
      idx[ca] = col_back ? out.width - 1 - x : x;
      out.pixels[x + out.width * y] = value(idx);
    }
  }
  return out;
}

}  // namespace

PlaneCut plane_cut(const io::Volume& v, Plane p, std::size_t index) {
  const CanonicalAxes c = oriented_axes(v.geometry);
  const auto na = static_cast<std::size_t>(c.index_axis[static_cast<std::size_t>(plane_normal(p))]);
  if (index >= v.geometry.size[na])
    throw Error(std::string(plane_name(p)) + " cut " + std::to_string(index) + " is outside 0.." +
                std::to_string(v.geometry.size[na] - 1));
  PlaneCut out;
  out.slice = cut(c, v.geometry.size, p, index, [&](const std::array<std::size_t, 3>& i) { return v.at(i[0], i[1], i[2]); });
  const Layout l = layout_of(p);
  out.pixel_width_mm = v.geometry.spacing[static_cast<std::size_t>(c.index_axis[static_cast<std::size_t>(l.col)])];
  out.pixel_height_mm = v.geometry.spacing[static_cast<std::size_t>(c.index_axis[static_cast<std::size_t>(l.row)])];
  return out;
}

Slice display_oriented(const Slice& s, const io::Geometry& g) {
  const CanonicalAxes c = oriented_axes(g);
  // The plane the third index axis cuts across.
  Plane p = Plane::kAxial;
  for (Plane q : {Plane::kAxial, Plane::kSagittal, Plane::kCoronal})
    if (c.index_axis[static_cast<std::size_t>(plane_normal(q))] == 2) p = q;
  return cut(c, {s.width, s.height, 1}, p, 0, [&](const std::array<std::size_t, 3>& i) { return s.at(i[0], i[1]); });
}

Slice square_pixels(const PlaneCut& c) {
  const double ratio = std::max(c.pixel_width_mm, c.pixel_height_mm) / std::min(c.pixel_width_mm, c.pixel_height_mm);
  if (!(ratio > 1.01)) return c.slice;
  const double r = std::min(ratio, 8.0);
  const bool stretch_rows = c.pixel_height_mm > c.pixel_width_mm;  // rows are the coarser axis
  Slice out;
  out.width = stretch_rows ? c.slice.width : static_cast<std::size_t>(std::lround(static_cast<double>(c.slice.width) * r));
  out.height = stretch_rows ? static_cast<std::size_t>(std::lround(static_cast<double>(c.slice.height) * r)) : c.slice.height;
  out.pixels.resize(out.size());
  // Nearest source pixel of output pixel u along the stretched axis of n source pixels.
  auto source = [&](std::size_t u, std::size_t n) {
    return std::min(n - 1, static_cast<std::size_t>((static_cast<double>(u) + 0.5) / r));
  };
  for (std::size_t y = 0; y < out.height; ++y)
    for (std::size_t x = 0; x < out.width; ++x) {
      const std::size_t sx = stretch_rows ? x : source(x, c.slice.width);
      const std::size_t sy = stretch_rows ? source(y, c.slice.height) : y;
      out.pixels[x + out.width * y] = c.slice.at(sx, sy);
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
  writer->GlobalWarningDisplayOff();  // VTK's own log line (e.g. "Ran out of disk space"): the error below says it
  writer->Write();
  if (writer->GetErrorCode() != 0 || !std::filesystem::exists(tmp)) {
    std::remove(tmp.c_str());
    throw Error(path + ": writing the PNG failed");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace medsynth::validation
