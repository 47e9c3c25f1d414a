#pragma once
// The report's three planes: montages of axial, sagittal and coronal cuts (real | synthetic |
// difference, PNG in images/), and the interactive viewer embedded in report.html (both
// volumes as 8-bit voxels, drawn on <canvas> by an inline script; no network, no file beside it).
#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "medsynth/io/volume.h"
#include "medsynth/validation/png_montage.h"

namespace medsynth::validation {

// Three cuts per plane through the anatomy (30%, 50% and 70% of the extent of the mask, or of
// the real voxels above low + 0.1 x range without one), each written as
// images/<plane>_<index>.png: real | synthetic | |synthetic - real| in the grey scale low ...
// low + range and the hot scale 0 ... difference_scale. Returns report["images"]["planes"].
nlohmann::json write_plane_montages(const io::Volume& real, const io::Volume& synthetic, const io::Volume* mask,
                                    double low, double range, double difference_scale, const std::string& images_dir);

// Both volumes reoriented to the canonical axes (x to L, y to P, z to S; x fastest), cropped to
// the box of voxels above low + 0.05 x range in either volume (plus 2 voxels), averaged over
// factor^3 blocks when the box holds more than max_voxels, and mapped to 8 bits: 0 is low,
// 255 is low + range (clipped). Nothing else of the input files is kept.
struct ViewerVolumes {
  std::array<std::size_t, 3> size{};            // voxels along L, P, S as embedded
  std::array<double, 3> spacing{};              // mm per embedded voxel along L, P, S
  std::array<std::size_t, 3> crop_begin{};      // first kept voxel, canonical index before downsampling
  std::array<std::size_t, 3> full_size{};       // the real grid's size along L, P, S
  std::size_t factor = 1;                       // downsampling factor (1: every voxel)
  CanonicalAxes axes;                           // to name voxels by the real grid's i, j, k
  double low = 0, range = 1, difference_scale = 1;
  std::vector<std::uint8_t> real, synthetic;    // size[0] * size[1] * size[2] each
};

ViewerVolumes make_viewer_volumes(const io::Volume& real, const io::Volume& synthetic, double low, double range,
                                  double difference_scale, std::size_t max_voxels = 8'000'000);

// What report.json records about the embedded volumes (no voxels).
nlohmann::json viewer_json(const ViewerVolumes& v);

// CSS for the section below (added to the page's <style>).
const char* three_planes_css();

// The page's "Three planes" section: the plane montages of report["images"]["planes"] and, when
// viewer is given, the interactive viewer with both volumes embedded (zlib, base64).
std::string three_planes_html(const nlohmann::json& report, const ViewerVolumes* viewer);

}  // namespace medsynth::validation
