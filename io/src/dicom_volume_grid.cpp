#include "dicom_volume_grid.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "medsynth/io/error.h"

namespace medsynth::io::detail {
namespace {

void normalise(std::array<double, 3>& v) {
  const double n = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  for (auto& x : v) x /= n;
}

std::string mm(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

// "name: a, b, c" or, for many values, "name: first .. last (N values)".
std::string describe_values(const std::string& name, const std::vector<std::string>& values) {
  std::vector<std::string> distinct;
  for (const auto& v : values) {
    if (std::find(distinct.begin(), distinct.end(), v) == distinct.end()) distinct.push_back(v);
  }
  std::string s = name + ": ";
  if (distinct.size() <= 6) {
    for (std::size_t i = 0; i < distinct.size(); ++i) s += (i ? ", " : "") + distinct[i];
  } else {
    s += values.front() + " .. " + values.back() + " (" + std::to_string(distinct.size()) + " values)";
  }
  return s;
}

std::vector<std::string> what_varies(const std::vector<std::vector<const DicomFrame*>>& volumes) {
  std::vector<std::string> names;
  for (const auto& [name, value] : volumes.front().front()->labels) names.push_back(name);
  std::vector<std::string> out;
  for (const auto& name : names) {
    std::vector<std::string> values;
    for (const auto& v : volumes) {
      std::string value = "(none)";
      for (const auto& [n, val] : v.front()->labels) {
        if (n == name) value = val;
      }
      values.push_back(value);
    }
    if (std::any_of(values.begin(), values.end(), [&](const std::string& x) { return x != values.front(); })) {
      out.push_back(describe_values(name, values));
    }
  }
  if (out.empty()) out.push_back("no recorded attribute (volumes follow the instance order)");
  return out;
}

}  // namespace

VolumeGrid arrange_frames(const std::string& path, const std::vector<DicomFrame>& frames) {
  VolumeGrid grid;
  const DicomFrame& first = frames.front();
  for (const auto& s : frames) {
    if (s.rows != first.rows || s.columns != first.columns) {
      throw Error(path, "mixed image sizes in one series: " + first.where + " is " + std::to_string(first.columns) +
                            "x" + std::to_string(first.rows) + ", " + s.where + " is " + std::to_string(s.columns) +
                            "x" + std::to_string(s.rows));
    }
    if (std::fabs(s.pixel_spacing[0] - first.pixel_spacing[0]) > 1e-4 ||
        std::fabs(s.pixel_spacing[1] - first.pixel_spacing[1]) > 1e-4) {
      throw Error(path, "mixed pixel spacing in one series (" + first.where + " vs " + s.where + ")");
    }
    if (frames.size() > 1 && (!s.has_ipp || !s.has_iop)) {
      throw Error(s.where, "has no ImagePositionPatient/ImageOrientationPatient, so the series cannot be stacked");
    }
    for (std::size_t i = 0; i < 6; ++i) {
      if (std::fabs(s.iop[i] - first.iop[i]) > 1e-3) {
        throw Error(path, "mixed slice orientations in one series (" + first.where + " vs " + s.where + ")");
      }
    }
  }
  grid.row = {first.iop[0], first.iop[1], first.iop[2]};
  grid.col = {first.iop[3], first.iop[4], first.iop[5]};
  // Some writers store IOP with few digits; renormalise so the direction stays orthonormal.
  normalise(grid.row);
  normalise(grid.col);
  grid.normal = {grid.row[1] * grid.col[2] - grid.row[2] * grid.col[1], grid.row[2] * grid.col[0] - grid.row[0] * grid.col[2],
                 grid.row[0] * grid.col[1] - grid.row[1] * grid.col[0]};
  normalise(grid.normal);

  // Positions: frames sorted along the normal; frames within 1e-3 mm share a position. Instance
  // numbers and file names play no part.
  std::vector<const DicomFrame*> sorted;
  for (const auto& f : frames) sorted.push_back(&f);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [&](const DicomFrame* a, const DicomFrame* b) { return grid.along(*a) < grid.along(*b); });
  std::vector<std::vector<const DicomFrame*>> positions;
  for (const DicomFrame* f : sorted) {
    if (positions.empty() || grid.along(*f) - grid.along(*positions.back().front()) >= 1e-3) positions.emplace_back();
    positions.back().push_back(f);
  }
  // The 4th dimension has as many volumes as most positions hold frames.
  std::map<std::size_t, std::size_t> count_of;
  for (const auto& p : positions) ++count_of[p.size()];
  std::size_t volumes = 0, most = 0;
  for (const auto& [count, n] : count_of) {
    if (n >= most) most = n, volumes = count;
  }
  for (auto& p : positions) {
    std::stable_sort(p.begin(), p.end(), [](const DicomFrame* a, const DicomFrame* b) { return a->order < b->order; });
    for (std::size_t i = 1; i < p.size(); ++i) {
      // Two frames that nothing orders (a copied file) are one slice twice, not two volumes.
      if (p.size() > volumes || p[i]->order == p[i - 1]->order) {
        throw Error(path, "two slices at one position (" + mm(grid.along(*p[i])) + " mm along the normal): " +
                              p[i - 1]->where + " and " + p[i]->where);
      }
    }
    if (p.size() < volumes) {
      throw Error(path, "missing frame(s) in a 4-D series of " + std::to_string(volumes) + " volumes: the position " +
                            mm(grid.along(*p.front())) + " mm along the normal holds " + std::to_string(p.size()) +
                            " frame(s) (first: " + p.front()->where + ")");
    }
  }
  grid.volumes.assign(volumes, {});
  for (const auto& p : positions) {
    for (std::size_t t = 0; t < volumes; ++t) grid.volumes[t].push_back(p[t]);
  }
  if (volumes > 1) grid.varies = what_varies(grid.volumes);
  return grid;
}

double slice_spacing(const std::string& path, const VolumeGrid& grid, const std::vector<const DicomFrame*>& slices) {
  const double hint = slices.front()->slice_spacing_hint;
  if (slices.size() < 2) return hint > 0 ? hint : 1.0;
  std::vector<double> gaps;
  for (std::size_t i = 1; i < slices.size(); ++i) gaps.push_back(grid.along(*slices[i]) - grid.along(*slices[i - 1]));
  // The smallest gap is the spacing: with slices missing, the other gaps are its multiples
  // (a median would call a 3-slice series with one slice missing "uneven").
  const double dz = *std::min_element(gaps.begin(), gaps.end());
  for (std::size_t i = 0; i < gaps.size(); ++i) {
    if (std::fabs(gaps[i] - dz) > 1e-2 * dz + 1e-3) {
      const double ratio = gaps[i] / dz;
      if (std::fabs(ratio - std::round(ratio)) < 0.05 && ratio > 1.5) {
        throw Error(path, "missing slice(s): gap of " + std::to_string(gaps[i]) + " mm between " + slices[i]->where +
                              " and " + slices[i + 1]->where + " where the spacing is " + std::to_string(dz) + " mm");
      }
      throw Error(path, "uneven slice spacing: " + std::to_string(gaps[i]) + " mm between " + slices[i]->where +
                            " and " + slices[i + 1]->where + ", " + std::to_string(dz) + " mm elsewhere");
    }
  }
  // Every gap is within 1% of dz: the mean gap is the better estimate (Philips positions carry
  // rounding; the smallest gap would drift by 1e-3 mm over 176 slices).
  return (grid.along(*slices.back()) - grid.along(*slices.front())) / static_cast<double>(slices.size() - 1);
}

}  // namespace medsynth::io::detail
